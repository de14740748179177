"""Read a TensorFlow.js weight manifest (as shipped by @vladmandic/face-api) into numpy arrays.

Format facts (TensorFlow.js "weights manifest"): a JSON list of groups; each group names its
binary shard files ("paths", concatenated in order) and its tensors ("weights": name, shape,
dtype, optional "quantization"). Tensors are packed back to back, little endian. A quantized
tensor stores uint8 or uint16 codes q with value = q * scale + min, or float16 values.
"""
import hashlib
import json
import os

import numpy as np

_QUANT_DTYPES = {"uint8": np.uint8, "uint16": np.uint16, "float16": np.float16}
_PLAIN_DTYPES = {"float32": np.float32, "int32": np.int32}


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_manifest(manifest_path):
    """Return ({name: float32/int32 ndarray}, [files read]) for every tensor in the manifest."""
    folder = os.path.dirname(os.path.abspath(manifest_path))
    with open(manifest_path, "r", encoding="utf-8") as f:
        groups = json.load(f)
    tensors = {}
    files = [manifest_path]
    for group in groups:
        shard_paths = [os.path.join(folder, p) for p in group["paths"]]
        files.extend(shard_paths)
        blob = b"".join(open(p, "rb").read() for p in shard_paths)
        offset = 0
        for spec in group["weights"]:
            shape = [int(d) for d in spec["shape"]]
            count = int(np.prod(shape)) if shape else 1
            quant = spec.get("quantization")
            if quant:
                stored = np.dtype(_QUANT_DTYPES[quant["dtype"]]).newbyteorder("<")
            else:
                stored = np.dtype(_PLAIN_DTYPES[spec["dtype"]]).newbyteorder("<")
            nbytes = count * stored.itemsize
            if offset + nbytes > len(blob):
                raise ValueError("%s: tensor %s runs past the end of the shards"
                                 % (manifest_path, spec["name"]))
            raw = np.frombuffer(blob, dtype=stored, count=count, offset=offset)
            offset += nbytes
            if quant and quant["dtype"] in ("uint8", "uint16"):
                values = raw.astype(np.float64) * quant["scale"] + quant["min"]
            else:
                values = raw
            out_dtype = np.int32 if spec["dtype"] == "int32" else np.float32
            tensors[spec["name"]] = np.asarray(values, dtype=out_dtype).reshape(shape)
        if offset != len(blob):
            raise ValueError("%s: %d bytes of the shards are not described by the manifest"
                             % (manifest_path, len(blob) - offset))
    return tensors, files
