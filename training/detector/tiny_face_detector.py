"""face-api's TinyFaceDetector rebuilt as an ONNX graph, plus a plain numpy forward pass that
follows TensorFlow.js semantics (NHWC, 'same'/'valid' padding rules) as an independent check.

Architecture (facts read from @vladmandic/face-api 1.7.15, src/tinyYolov2 and
src/tinyFaceDetector; the code here is our own):
  input RGB, letterboxed to a square (image at top-left, zero padding) in face-api, any
  multiple of 32; x = (pixel - MEAN_RGB) / 255
  conv0: 3x3 conv, 'valid' padding, bias, leaky ReLU 0.1           3 -> 16
  maxpool 2x2 stride 2 'same'
  conv1..conv5: 1-pixel zero pad, depthwise 3x3 (no bias), pointwise 1x1 + bias, leaky 0.1
      16 -> 32 -> 64 -> 128 -> 256 -> 512; after conv1..conv4 a 2x2 stride-2 'same' maxpool,
      after conv5 a 2x2 stride-1 'same' maxpool
  conv8: 1x1 conv + bias, 512 -> 25 = 5 anchors x (tx, ty, tw, th, score)
  Decoding: score = sigmoid(t4); centre = (cell + sigmoid(tx, ty)) * 32;
  size = exp(tw, th) * anchor * 32; NMS with IoU 0.4.
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

MEAN_RGB = (117.001, 114.697, 97.404)
ANCHORS = ((1.603231, 2.094468), (6.041143, 7.080126), (2.882459, 3.518061),
           (4.266906, 5.178857), (9.041765, 10.66308))
LEAKY_ALPHA = 0.1
STRIDE = 32
VALUES_PER_ANCHOR = 5  # tx, ty, tw, th, score
CHANNELS = (16, 32, 64, 128, 256, 512)
IOU_THRESHOLD = 0.4


def tf_same_pads(size, kernel, stride):
    """(before, after) padding TensorFlow's 'same' uses along one axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


# ---------------------------------------------------------------- numpy reference (NHWC)

def _leaky(x):
    return np.where(x > 0, x, np.float32(LEAKY_ALPHA) * x)


def _conv_nhwc(x, filt, pad):
    """Plain convolution, x [H, W, C], filt [kh, kw, C, O] (TF layout), symmetric zero pad."""
    if pad:
        x = np.pad(x, ((pad, pad), (pad, pad), (0, 0)))
    kh, kw, _, _ = filt.shape
    oh, ow = x.shape[0] - kh + 1, x.shape[1] - kw + 1
    out = np.zeros((oh, ow, filt.shape[3]), np.float64)
    for i in range(kh):
        for j in range(kw):
            out += x[i:i + oh, j:j + ow, :].astype(np.float64) @ filt[i, j].astype(np.float64)
    return out.astype(np.float32)


def _depthwise_nhwc(x, filt, pad):
    """Depthwise 3x3, filt [kh, kw, C, 1] (TF layout)."""
    x = np.pad(x, ((pad, pad), (pad, pad), (0, 0)))
    kh, kw = filt.shape[:2]
    oh, ow = x.shape[0] - kh + 1, x.shape[1] - kw + 1
    out = np.zeros((oh, ow, x.shape[2]), np.float64)
    for i in range(kh):
        for j in range(kw):
            out += x[i:i + oh, j:j + ow, :] * filt[i, j, :, 0].astype(np.float64)
    return out.astype(np.float32)


def _maxpool_same_nhwc(x, stride):
    (t, b), (l, r) = tf_same_pads(x.shape[0], 2, stride), tf_same_pads(x.shape[1], 2, stride)
    x = np.pad(x, ((t, b), (l, r), (0, 0)), constant_values=-np.inf)
    oh, ow = (x.shape[0] - 2) // stride + 1, (x.shape[1] - 2) // stride + 1
    out = np.full((oh, ow, x.shape[2]), -np.inf, np.float32)
    for i in range(2):
        for j in range(2):
            out = np.maximum(out, x[i:i + (oh - 1) * stride + 1:stride,
                                    j:j + (ow - 1) * stride + 1:stride, :])
    return out


def reference_forward(weights, rgb_hwc):
    """TF.js-semantics forward pass: rgb_hwc float [H, W, 3] in 0..255 -> raw [H/32, W/32, 25]."""
    x = (rgb_hwc.astype(np.float32) - np.asarray(MEAN_RGB, np.float32)) / np.float32(255)
    x = _leaky(_conv_nhwc(x, weights["conv0/filters"], 0) + weights["conv0/bias"])
    x = _maxpool_same_nhwc(x, 2)
    for i in range(1, 6):
        x = _depthwise_nhwc(x, weights["conv%d/depthwise_filter" % i], 1)
        x = _conv_nhwc(x, weights["conv%d/pointwise_filter" % i], 0) + weights["conv%d/bias" % i]
        x = _maxpool_same_nhwc(_leaky(x), 2 if i < 5 else 1)
    return _conv_nhwc(x, weights["conv8/filters"], 0) + weights["conv8/bias"]


# ---------------------------------------------------------------- ONNX graph (NCHW)

def _oihw(filt_hwio):
    return np.ascontiguousarray(np.transpose(filt_hwio, (3, 2, 0, 1)).astype(np.float32))


def build_onnx(weights, width, height, metadata, dynamic=False, opset=13):
    """ONNX model: input 'image' [1, 3, height, width] RGB 0..255 -> 'grid' [1, 25, h/32, w/32].

    The mean subtraction and the 1/255 scale are folded into conv0: it has no padding, so
    conv(W, (x - m) / 255) + b == conv(W / 255, x) + (b - sum(W * m) / 255) exactly.
    The maxpools' TF 'same' padding is written as explicit (asymmetric) pads; for every input
    side that is a multiple of 32 the pads are the same, so the graph stays valid when the
    engine overrides the spatial size.
    """
    if width % STRIDE or height % STRIDE or width <= 0 or height <= 0:
        raise ValueError("input width and height must be positive multiples of 32")
    inits, nodes = [], []

    def const(name, array):
        inits.append(numpy_helper.from_array(np.asarray(array, np.float32), name))
        return name

    mean = np.asarray(MEAN_RGB, np.float64)
    w0 = weights["conv0/filters"].astype(np.float64)  # [3, 3, 3(in), 16(out)]
    b0 = weights["conv0/bias"].astype(np.float64) - np.einsum("hwio,i->o", w0, mean) / 255.0
    const("conv0.weight", _oihw(w0 / 255.0))
    const("conv0.bias", b0)
    nodes.append(helper.make_node("Conv", ["image", "conv0.weight", "conv0.bias"], ["conv0"],
                                  name="conv0", kernel_shape=[3, 3], pads=[0, 0, 0, 0],
                                  strides=[1, 1]))
    nodes.append(helper.make_node("LeakyRelu", ["conv0"], ["conv0.act"], name="conv0.act",
                                  alpha=LEAKY_ALPHA))
    size_h, size_w = height - 2, width - 2  # after the 'valid' 3x3
    prev = "conv0.act"
    for i in range(1, 7):
        stride = 1 if i == 6 else 2
        ph, pw = tf_same_pads(size_h, 2, stride), tf_same_pads(size_w, 2, stride)
        pool = "pool%d" % (i - 1)
        nodes.append(helper.make_node("MaxPool", [prev], [pool], name=pool, kernel_shape=[2, 2],
                                      strides=[stride, stride],
                                      pads=[ph[0], pw[0], ph[1], pw[1]]))
        size_h, size_w = -(-size_h // stride), -(-size_w // stride)
        if i == 6:
            prev = pool
            break
        channels = CHANNELS[i - 1]
        dw = weights["conv%d/depthwise_filter" % i]  # [3, 3, C, 1]
        const("conv%d.depthwise.weight" % i,
              np.transpose(dw, (2, 3, 0, 1)))       # [C, 1, 3, 3]
        const("conv%d.pointwise.weight" % i, _oihw(weights["conv%d/pointwise_filter" % i]))
        const("conv%d.pointwise.bias" % i, weights["conv%d/bias" % i])
        nodes.append(helper.make_node(
            "Conv", [pool, "conv%d.depthwise.weight" % i], ["conv%d.depthwise" % i],
            name="conv%d.depthwise" % i, kernel_shape=[3, 3], pads=[1, 1, 1, 1],
            strides=[1, 1], group=channels))
        nodes.append(helper.make_node(
            "Conv", ["conv%d.depthwise" % i, "conv%d.pointwise.weight" % i,
                     "conv%d.pointwise.bias" % i], ["conv%d.pointwise" % i],
            name="conv%d.pointwise" % i, kernel_shape=[1, 1], pads=[0, 0, 0, 0], strides=[1, 1]))
        nodes.append(helper.make_node("LeakyRelu", ["conv%d.pointwise" % i], ["conv%d.act" % i],
                                      name="conv%d.act" % i, alpha=LEAKY_ALPHA))
        prev = "conv%d.act" % i
    const("conv8.weight", _oihw(weights["conv8/filters"]))
    const("conv8.bias", weights["conv8/bias"])
    nodes.append(helper.make_node("Conv", [prev, "conv8.weight", "conv8.bias"], ["grid"],
                                  name="conv8", kernel_shape=[1, 1], pads=[0, 0, 0, 0],
                                  strides=[1, 1]))
    out_channels = len(ANCHORS) * VALUES_PER_ANCHOR
    if dynamic:
        in_dims, out_dims = [1, 3, "height", "width"], [1, out_channels, "grid_height", "grid_width"]
    else:
        in_dims = [1, 3, height, width]
        out_dims = [1, out_channels, height // STRIDE, width // STRIDE]
    graph = helper.make_graph(
        nodes, "tiny_face_detector",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, in_dims)],
        [helper.make_tensor_value_info("grid", TensorProto.FLOAT, out_dims)],
        initializer=inits)
    model = helper.make_model(graph, producer_name="facekp training/detector",
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7  # readable by ONNX Runtime and by any opset-13 consumer
    model.doc_string = ("face-api TinyFaceDetector (Tiny-YOLOv2 style, depthwise-separable), "
                        "converted by facekp training/detector/convert.py")
    helper.set_model_props(model, metadata)
    onnx.checker.check_model(model)
    return model


# ---------------------------------------------------------------- decoding (see decode.py)

def anchors_string():
    return ";".join("%r,%r" % a for a in ANCHORS)
