#!/usr/bin/python3
"""Tests of the training code: crop geometry, flip permutation, export.

The export test builds a facekp-recipe model (BatchNorm in the branches,
normalised argmax, 3 input channels), exports it the way the shipped model is
exported and checks that nn-core (FACEKP_NN_LIB) reproduces PyTorch's output
of the unexported model: the folds export applies must not change the function.
"""
import csv
import math
import os
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "training"))

import facekp_data as data  # noqa: E402

DATA = os.path.join(HERE, "..", "data")


def dataset_rows():
    with open(os.path.join(DATA, "stickers-faces.csv"), newline="") as f:
        rows = list(csv.reader(f))[1:]
    return [(r[0], np.asarray(r[1:], np.float32).reshape(68, 2)) for r in rows]


class CropGeometry(unittest.TestCase):
    def setUp(self):
        rng = np.random.default_rng(3)
        self.image = rng.uniform(0, 255, (40, 50)).astype(np.float32)

    def test_identity_window_copies_pixels(self):
        # A 16x16 window whose pixels coincide with frame pixels: exact copy.
        crop = data.warp_crop(self.image, np.array([20.0, 18.0]), 16.0, 0.0, 16)
        np.testing.assert_allclose(crop, self.image[10:26, 12:28], atol=1e-4)

    def test_quarter_turn_is_rot90(self):
        crop = data.warp_crop(self.image, np.array([20.0, 18.0]), 16.0, math.pi / 2, 16)
        # The crop's x axis runs down the frame: crop[v, u] = window[u, 15 - v].
        np.testing.assert_allclose(crop, np.rot90(self.image[10:26, 12:28], k=1), atol=1e-3)

    def test_outside_reads_zero(self):
        crop = data.warp_crop(self.image, np.array([-100.0, -100.0]), 20.0, 0.3, 8)
        self.assertEqual(float(np.abs(crop).max()), 0.0)

    def test_supersampling_averages_blocks(self):
        # S/N = 2: each output pixel averages 2x2 samples at the frame pixel centres.
        crop = data.warp_crop(self.image, np.array([20.0, 18.0]), 16.0, 0.0, 8)
        blocks = self.image[10:26, 12:28].reshape(8, 2, 8, 2).mean(axis=(1, 3))
        np.testing.assert_allclose(crop, blocks, atol=1e-4)

    def test_points_round_trip(self):
        p = np.array([[3.0, 4.0], [30.5, 12.25]])
        c, s, a = np.array([20.0, 18.0]), 33.0, 0.4
        np.testing.assert_allclose(data.points_from_crop(data.points_to_crop(p, c, s, a), c, s, a),
                                   p, atol=1e-9)

    def test_points_follow_pixels(self):
        # A bright pixel lands where points_to_crop says its centre goes.
        img = np.zeros((60, 60), np.float32)
        img[22, 37] = 255
        c, s, a = np.array([31.0, 29.0]), 20.0, 0.7
        q = data.points_to_crop(np.array([[37.5, 22.5]]), c, s, a)[0] * 40
        crop = data.warp_crop(img, c, s, a, 40)
        v, u = np.unravel_index(np.argmax(crop), crop.shape)
        self.assertLess(math.hypot(u + 0.5 - q[0], v + 0.5 - q[1]), 1.5)


class FlipPermutation(unittest.TestCase):
    def test_is_an_involution(self):
        p = data.FLIP_PERMUTATION
        np.testing.assert_array_equal(p[p], np.arange(68))

    def test_mirrored_face_keeps_its_sides(self):
        for _, pts in dataset_rows():
            mirrored = pts.copy()
            mirrored[:, 0] = -mirrored[:, 0]
            mirrored = mirrored[data.FLIP_PERMUTATION]
            # After the flip, point 36 (outer corner of the image-left eye) is still left of 45,
            # the jaw still runs left to right and the mouth corners keep their order.
            self.assertLess(mirrored[36, 0], mirrored[45, 0])
            self.assertLess(mirrored[0, 0], mirrored[16, 0])
            self.assertLess(mirrored[48, 0], mirrored[54, 0])
            self.assertLess(mirrored[17, 0], mirrored[26, 0])

    def test_nme_of_truth_is_zero(self):
        _, pts = dataset_rows()[0]
        self.assertEqual(float(data.nme(pts[None], pts[None])[0]), 0.0)


class HeldOutIdentities(unittest.TestCase):
    """train.py --val-fraction: a validation set of whole identities."""

    NAMES = ([f"Ann_Lee_{i}.jpg" for i in range(5)] + [f"Bo_{i}.jpg" for i in range(3)]
             + [f"Bo_{i}_t.jpg" for i in range(2)]
             + [f"Carl_De_Vries_{i}.jpg" for i in range(4)] + [f"Dee_{i}.jpg" for i in range(2)])

    def test_identity_is_the_name_without_its_frame_number(self):
        self.assertEqual(data.identity_of("Carl_De_Vries_12.jpg"), "Carl_De_Vries")
        self.assertEqual(data.identity_of("Bo_0.jpg"), "Bo")
        # Frames from the data's original test folder; some are copies of their namesake.
        self.assertEqual(data.identity_of("Jake_Plummer_51_t.jpg"), "Jake_Plummer")
        self.assertEqual(data.identity_of("Bo_t_3_t.jpg"), "Bo_t")

    def test_no_person_on_both_sides(self):
        held = data.held_out_identities(self.NAMES, 0.5, seed=1)
        inside = {data.identity_of(n) for n, h in zip(self.NAMES, held) if h}
        outside = {data.identity_of(n) for n, h in zip(self.NAMES, held) if not h}
        self.assertEqual(len(inside), 2)
        self.assertEqual(len(outside), 2)
        self.assertFalse(inside & outside)

    def test_same_seed_same_choice(self):
        a = data.held_out_identities(self.NAMES, 0.25, seed=3)
        b = data.held_out_identities(list(reversed(self.NAMES)), 0.25, seed=3)[::-1]
        self.assertEqual(a.tolist(), b.tolist())   # order of the rows does not matter
        self.assertFalse(data.held_out_identities(self.NAMES, 0.0, seed=3).any())

    def test_split_keeps_rows_together(self):
        points = np.arange(len(self.NAMES), dtype=np.float32)
        images = [f"image of {n}" for n in self.NAMES]
        (hn, hi, hp), (rn, ri, rp) = data.split_held_out(self.NAMES, images, points, 0.5, seed=1)
        self.assertEqual(sorted(hn + rn), sorted(self.NAMES))
        for names, imgs, pts in ((hn, hi, hp), (rn, ri, rp)):
            self.assertEqual(imgs, [f"image of {n}" for n in names])
            self.assertEqual(pts.tolist(), [self.NAMES.index(n) for n in names])


class WeightAveraging(unittest.TestCase):
    """average.py: the mean of checkpoints, and export's account of how they were trained."""

    def test_mean_of_two_stages(self):
        import subprocess
        import torch
        import export

        base = {"recipe": "facekp", "attention": "argmax", "size": 112, "init_from": None}
        with tempfile.TemporaryDirectory() as tmp:
            first, second, out = (os.path.join(tmp, n) for n in ("a.pt", "b.pt", "mean.pt"))
            torch.save({"model": {"w": torch.tensor([1.0, 2.0]), "n": torch.tensor(3)},
                        "args": base, "epoch": 2, "history": [{}, {}]}, first)
            torch.save({"model": {"w": torch.tensor([3.0, 6.0]), "n": torch.tensor(7)},
                        "args": dict(base, init_from=first), "epoch": 5,
                        "history": [{}] * 5}, second)
            subprocess.run([sys.executable, os.path.join(HERE, "..", "..", "training", "average.py"),
                            out, first, second], check=True, capture_output=True)
            mean = torch.load(out)
            self.assertEqual(mean["model"]["w"].tolist(), [2.0, 4.0])
            self.assertEqual(int(mean["model"]["n"]), 7)   # integer buffers: the last one's
            meta = export.contract_metadata(mean["args"], mean["history"], 2,
                                            len(mean["averaged"]))
            self.assertEqual(meta["facekp.train.epochs"],
                             "7 (stages of 2 + 5, warm restarts); weights: mean of 2 checkpoints")
            # Box crops: looser than points crops for the facekp recipe only.
            self.assertEqual(meta["facekp.crop.box_scale"], "1.65")
            self.assertEqual(export.contract_metadata(dict(base, recipe="seed"), [{}])
                             ["facekp.crop.box_scale"], meta["facekp.crop.points_scale"])
            # A later stage at another input size says so.
            third = os.path.join(tmp, "c.pt")
            torch.save({"model": mean["model"], "args": dict(base, size=128, init_from=out),
                        "epoch": 4, "history": [{}] * 4}, third)
            self.assertEqual(export.contract_metadata(torch.load(third)["args"], [{}] * 4)
                             ["facekp.train.epochs"],
                             "11 (stages of 2 + 5 at 112², 4 at 128², warm restarts)")
            bad = subprocess.run([sys.executable,
                                  os.path.join(HERE, "..", "..", "training", "average.py"),
                                  out, first], capture_output=True, text=True)
            self.assertNotEqual(bad.returncode, 0)


class TrainingSampling(unittest.TestCase):
    """train.py's loader: a sample depends on (seed, epoch, image) alone, never on the workers."""

    def setUp(self):
        import train
        self.train = train
        rng = np.random.default_rng(4)
        self.points = np.stack([p for _, p in dataset_rows()[:3]])
        size = int(self.points.max()) + 20
        self.images = [rng.uniform(0, 255, (size, size)).astype(np.float32) for _ in self.points]
        self.crops = train.TrainingCrops(train.Recipe("facekp", 32), self.images, self.points, 1)

    def test_same_key_same_sample(self):
        a, b = self.crops[(3, 1)], self.crops[(3, 1)]
        np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
        np.testing.assert_array_equal(a[1].numpy(), b[1].numpy())
        self.assertFalse(np.array_equal(a[0].numpy(), self.crops[(4, 1)][0].numpy()))
        self.assertEqual(tuple(a[0].shape), (32, 32))
        self.assertEqual(tuple(a[1].shape), (136,))

    def test_workers_draw_what_the_main_process_draws(self):
        import torch
        order = self.train.EpochOrder(len(self.images), 1)
        order.epoch = 2
        keys = list(order)
        self.assertEqual(sorted(i for _, i in keys), list(range(len(self.images))))
        self.assertTrue(all(e == 2 for e, _ in keys))

        def batches(workers):
            loader = torch.utils.data.DataLoader(self.crops, batch_size=3, sampler=order,
                                                 num_workers=workers)
            return [x.numpy() for x, _ in loader]
        for a, b in zip(batches(0), batches(2)):
            np.testing.assert_array_equal(a, b)

    def test_weight_average_follows_the_weights(self):
        import torch
        model = torch.nn.BatchNorm1d(2)
        average = self.train.WeightAverage(model, 0.75)
        with torch.no_grad():
            model.weight.fill_(5.0)            # from 1
            model.running_mean.fill_(4.0)      # from 0
        model.num_batches_tracked.fill_(9)
        average.update()
        self.assertEqual(average.state["weight"].tolist(), [2.0, 2.0])   # 0.75 * 1 + 0.25 * 5
        self.assertEqual(average.state["running_mean"].tolist(), [1.0, 1.0])
        self.assertEqual(int(average.state["num_batches_tracked"]), 9)  # counters are copied


class HeadRefit(unittest.TestCase):
    """refit_head.py: the ridge fit and the linear map written into the seed's head."""

    def test_ridge_recovers_a_linear_map(self):
        import refit_head
        rng = np.random.default_rng(4)
        z = rng.normal(size=(400, 24))
        w_true, c_true = rng.normal(size=(24, 6)), rng.normal(size=6)
        w, c = refit_head.fit_ridge(z, z @ w_true + c_true, 1e-9)
        np.testing.assert_allclose(w, w_true, atol=1e-6)
        np.testing.assert_allclose(c, c_true, atol=1e-6)
        # A strong ridge shrinks the map towards the mean target.
        w_strong, c_strong = refit_head.fit_ridge(z, z @ w_true + c_true, 1e6)
        self.assertLess(np.abs(w_strong).max(), 1e-3)
        np.testing.assert_allclose(c_strong, (z @ w_true + c_true).mean(axis=0), atol=1e-2)

    def test_written_head_computes_the_map_through_its_relu(self):
        import argparse
        import torch
        import refit_head
        import train
        torch.manual_seed(2)
        model = train.build_model(argparse.Namespace(recipe="facekp", attention="argmax",
                                                     channels=1)).eval()
        rng = np.random.default_rng(5)
        w, c = rng.normal(size=(1024, 136)), rng.normal(size=136)
        refit_head.write_linear_head(model, w, c)
        z = rng.normal(size=(5, 1024))   # signs of both kinds reach the ReLU
        with torch.no_grad():
            got = model.head[3:](torch.from_numpy(z).float()).double().numpy()
        np.testing.assert_allclose(got, z @ w + c, rtol=1e-4, atol=1e-3)

    def test_export_records_the_refit(self):
        import export
        base = {"recipe": "facekp", "attention": "argmax", "size": 112, "init_from": None}
        refit = {"strength": 3.0, "refine": 2}
        meta = export.contract_metadata(base, [{}], 2, 0, refit)
        self.assertIn("strength 3", meta["facekp.train.head"])
        self.assertIn("2 refinements", meta["facekp.train.head"])
        self.assertNotIn("facekp.train.head", export.contract_metadata(base, [{}], 2))
        rolled = export.contract_metadata(base, [{}], 2, 0, {**refit, "roll": 25.0})
        self.assertIn("up to 25 degree turned", rolled["facekp.train.head"])

    def test_first_windows_add_turned_whole_frames(self):
        import refit_head
        images = [np.zeros((96, 80), np.float32), np.zeros((50, 70), np.float32)] * 20
        upright_only = refit_head.first_windows(images, 0, 1)
        self.assertEqual(len(upright_only), 1)
        self.assertTrue(all(w[2] == 0 for w in upright_only[0]))
        upright, turned = refit_head.first_windows(images, 25, 1)
        self.assertEqual(len(upright), len(images))
        angles = np.degrees([w[2] for w in turned])
        self.assertTrue(np.all(np.abs(angles) <= 25) and angles.min() < -10 and angles.max() > 10)
        for (c0, s0, _), (c1, s1, _) in zip(upright, turned):   # the same square, turned
            np.testing.assert_array_equal(c0, c1)
            self.assertEqual(s0, s1)
        again = refit_head.first_windows(images, 25, 1)[1]
        self.assertEqual([w[2] for w in again], [w[2] for w in turned])

    def test_point_jitter_is_zero_only_for_an_engine_that_ignores_the_image(self):
        import evaluate
        import export
        import point_jitter
        meta = export.contract_metadata({"recipe": "facekp", "attention": "argmax", "size": 32,
                                         "init_from": None}, [{}], 2)
        contract = evaluate.Contract(meta)
        rng = np.random.default_rng(6)
        images = [rng.uniform(0, 255, (80, 72)).astype(np.float32) for _ in range(2)]
        points = [rng.uniform(20, 60, (68, 2)) for _ in range(2)]
        mean_shape = rng.uniform(0.2, 0.8, 136)
        constant = lambda batch: np.tile(mean_shape, (len(batch), 1))
        still = point_jitter.point_jitter(constant, contract, images, points, 3, 6, 0)
        np.testing.assert_allclose(still, 0, atol=1e-9)
        # Points pulled by the crop's own pixels: the noise moves them.
        reads_pixels = lambda batch: mean_shape + 0.01 * batch.reshape(len(batch), -1)[:, :136]
        moving = point_jitter.point_jitter(reads_pixels, contract, images, points, 3, 6, 0)
        self.assertTrue(np.all(moving > 1e-4))

    def test_too_narrow_a_hidden_layer_is_refused(self):
        import torch
        import refit_head
        model = torch.nn.Module()
        model.head = torch.nn.Sequential(*[torch.nn.Identity()] * 4, torch.nn.Linear(8, 100),
                                         torch.nn.ReLU(), torch.nn.Linear(100, 136))
        with self.assertRaises(SystemExit):
            refit_head.write_linear_head(model, np.zeros((8, 136)), np.zeros(136))


class RegionRefiner(unittest.TestCase):
    """train_refiner.py and expression_values.py: the values, the mirror, the graft."""

    def test_mouth_value_of_a_drawn_mouth(self):
        import expression_values as ev
        p = np.zeros((68, 2))
        p[48], p[54] = (0, 0), (40, 0)                       # width 40
        for top, bottom in ((61, 67), (62, 66), (63, 65)):
            p[top], p[bottom] = (20, -5), (20, 5)            # gap 10: ratio 0.25
        self.assertAlmostEqual(float(ev.mouth_ratio(p)), 0.25)
        self.assertAlmostEqual(float(ev.mouth_open(p)), 0.5)
        self.assertAlmostEqual(ev.spearman([1, 2, 2, 3], [10, 20, 20, 30]), 1.0)
        self.assertEqual(ev.confusion([1, 1, 0, 0], [1, 0, 0, 1])[:4], (1, 1, 1, 1))

    def test_mirror_keeps_each_point_on_its_pixel(self):
        import torch
        import train_refiner as tr
        rng = np.random.default_rng(11)
        for name, region in tr.REGIONS.items():
            (r0, r1), (c0, c1) = region["rows"], region["cols"]
            self.assertEqual(c0 + c1, 112, name)     # symmetric about the crop's centre
            k = len(region["points"])
            rows, cols = rng.integers(0, r1 - r0, k), rng.permutation(c1 - c0)[:k]
            x = np.zeros((1, 1, r1 - r0, c1 - c0), np.float32)
            x[0, 0, rows, cols] = 1.0 + np.arange(k)        # each point's pixel, told apart
            y = np.stack([(c0 + cols + 0.5) / 112, (r0 + rows + 0.5) / 112], axis=1)
            xm, ym = tr.mirror(torch, torch.from_numpy(x), torch.from_numpy(y.reshape(1, -1)),
                               torch.from_numpy(tr.flip_permutation(region)))
            ym = ym.numpy().reshape(k, 2)
            perm = tr.flip_permutation(region)
            for j in range(k):
                u, v = int(round(ym[j, 0] * 112 - 0.5)) - c0, int(round(ym[j, 1] * 112 - 0.5)) - r0
                # point j of the mirrored face is the mirror of the original's point perm[j]
                self.assertEqual(float(xm[0, 0, v, u]), 1.0 + perm[j], (name, j))
        mouth = tr.REGIONS["mouth"]
        self.assertEqual(mouth["points"][tr.flip_permutation(mouth)[0]], 54)   # corner to corner

    @unittest.skipUnless(os.environ.get("FACEKP_NN_LIB"), "FACEKP_NN_LIB not set")
    def test_grafted_refiners_give_the_head_centroid_and_their_shape(self):
        import argparse
        import onnx
        import torch
        import evaluate
        import export
        import train
        import train_refiner as tr
        torch.manual_seed(12)
        args = argparse.Namespace(recipe="facekp", attention="argmax", channels=1, size=112,
                                  epochs=1, batch=2, lr=1e-3, weight_decay=0.0)
        model = train.build_model(args).eval()
        lib = os.environ["FACEKP_NN_LIB"]
        x = np.random.default_rng(13).uniform(-1, 1, (1, 1, 112, 112)).astype(np.float32)

        def run(path):
            return evaluate.NnCoreEngine(path, lib, threads=1)(x)[0]

        def refiner(region, stages):
            net = tr.build_net(torch, region, tr.parse_stages(stages), 16)
            for m in net.modules():     # BatchNorm statistics that the fold must carry
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.2, 0.2)
                    m.running_var.uniform_(0.5, 2.0)
                    m.weight.data.uniform_(0.5, 1.5)
                    m.bias.data.uniform_(-0.1, 0.1)
            return net.eval()

        with tempfile.TemporaryDirectory() as tmp:
            ckpt, base = os.path.join(tmp, "model.pt"), os.path.join(tmp, "model.onnx")
            torch.save({"model": model.state_dict(), "args": vars(args), "history": []}, ckpt)
            exported, meta = export.load_for_export(ckpt)
            export.export(exported, meta, base, 112)
            contract = evaluate.Contract({p.key: p.value for p in onnx.load(base).metadata_props})
            head = run(base)
            expected, path = head.copy(), base
            # The shipped stages for the mouth; for the eyes, stages of two convs, whose
            # first has no pool after it.
            for name, stages in (("mouth", tr.STAGES), ("eyes", "8x2,16x1,16x2")):
                region, net = tr.REGIONS[name], refiner(tr.REGIONS[name], stages)
                out = os.path.join(tmp, name + ".onnx")
                tr.write_model(path, out, name, region, tr.fold(torch, net), contract, {})
                with self.assertRaises(SystemExit):    # one refiner per region
                    tr.write_model(out, os.path.join(tmp, "again.onnx"), name, region,
                                   tr.fold(torch, net), contract, {})
                with torch.no_grad():
                    shape = tr.centred(net(torch.from_numpy(tr.window_of(region, x))).numpy())[0]
                cols = tr.ee.columns(region["points"])
                centroid = np.tile(head[cols].reshape(-1, 2).mean(axis=0), len(region["points"]))
                expected[cols] = centroid + shape * contract.out_ref / contract.out_std
                path = out
            got = run(path)
            np.testing.assert_allclose(got, expected, atol=1e-5)
            changed = tr.ee.columns(tr.REGIONS["mouth"]["points"] + tr.REGIONS["eyes"]["points"])
            self.assertGreater(np.abs(got - head)[changed].min(), 0.0)
            # Taking the mouth's refiner out leaves the eyes' and the head's mouth.
            stripped = os.path.join(tmp, "stripped.onnx")
            onnx.save(tr.strip(onnx.load(path), "mouth"), stripped)
            mouth_cols = tr.ee.columns(tr.REGIONS["mouth"]["points"])
            expected[mouth_cols] = head[mouth_cols]
            np.testing.assert_allclose(run(stripped), expected, atol=1e-5)


class IdentityInterval(unittest.TestCase):
    """identity_interval.py: intervals resampled by person."""

    def test_intervals(self):
        import identity_interval as ii
        rng = np.random.default_rng(3)
        people = np.repeat(np.arange(12), 5)
        truth = rng.normal(size=60)
        noisy = truth + rng.normal(scale=0.8, size=60)
        (exact, noisy_rho, reverse), _ = ii.intervals(truth, [truth, noisy, -truth], people, 300)
        np.testing.assert_allclose([exact[0], *exact[1]], [1.0, 1.0, 1.0])
        self.assertAlmostEqual(reverse[0], -1.0)
        low, high = noisy_rho[1]
        self.assertTrue(low < noisy_rho[0] < high < 1.0)
        # The same predictions twice differ by nothing in every draw.
        _, diffs = ii.intervals(truth, [noisy, noisy.copy()], people, 50)
        self.assertEqual(diffs, [(0.0, (0.0, 0.0))])


@unittest.skipUnless(os.environ.get("FACEKP_NN_LIB"), "FACEKP_NN_LIB not set")
class ExportMatchesEngine(unittest.TestCase):
    def test_facekp_recipe_export(self):
        import argparse
        import torch
        import evaluate
        import export
        import train

        torch.manual_seed(5)
        args = argparse.Namespace(recipe="facekp", attention="argmax", channels=3, size=64,
                                  epochs=1, batch=2, lr=1e-3, weight_decay=0.0)
        model = train.build_model(args)
        # Random BatchNorm statistics, so folding them is really exercised.
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm2d, torch.nn.BatchNorm1d)):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.data.uniform_(0.5, 1.5)
                m.bias.data.uniform_(-0.2, 0.2)
        model.eval()
        x = torch.randn(1, 1, 64, 64)
        with torch.no_grad():
            reference = model(x.expand(1, 3, 64, 64)).numpy()[0]
        with tempfile.TemporaryDirectory() as tmp:
            ckpt = os.path.join(tmp, "model.pt")
            torch.save({"model": model.state_dict(), "args": vars(args), "history": []}, ckpt)
            exported, meta = export.load_for_export(ckpt)
            onnx_path = os.path.join(tmp, "model.onnx")
            export.export(exported, meta, onnx_path, 64)
            engine = evaluate.NnCoreEngine(onnx_path, os.environ["FACEKP_NN_LIB"], threads=1)
            got = engine(x.numpy())[0]
        scale = float(np.abs(reference).max())
        self.assertLessEqual(float(np.abs(got - reference).max()), 1e-4 * scale)
        self.assertEqual(meta["facekp.task"], "landmarks68")
        self.assertEqual(meta["facekp.input.channels"], "1")


class MeanShape(unittest.TestCase):
    """fit_mean_shape.py on other faces (the test split's labels, 435 faces of
    35 people none of whom are in training) gives nearly the shipped shape,
    and its closed-form fit agrees with face/src/pose.c's table of signs."""

    def test_other_faces_give_the_shipped_shape(self):
        import re
        import fit_mean_shape as fms
        header = os.path.join(HERE, "..", "..", "face", "src", "mean-shape.h")
        shipped = np.array([[float(v[:-1]) for v in re.findall(r"[-+]\d+\.\d+f", line)]
                            for line in open(header) if line.lstrip().startswith("{ ")])
        self.assertEqual(shipped.shape, (68, 3))
        with open(os.path.join(DATA, "keypoints-test.csv"), newline="") as f:
            pts = np.stack([np.asarray(r[1:], np.float64).reshape(68, 2)
                            for r in list(csv.reader(f))[1:]])
        shape, residual = fms.mean_shape(pts)
        self.assertLess(residual, 0.1)
        # Same axes, same scale: the points agree to a few hundredths of the eye distance
        # (depth, which only the turns of the heads reveal, less closely).
        diff = np.abs(shape - (shipped - shipped.mean(axis=0)))
        self.assertLess(float(diff[:, :2].mean()), 0.02)
        self.assertLess(float(diff[:, 2].mean()), 0.05)
        # The nose tip is in front of the eyes, the chin below them.
        self.assertLess(shape[30, 2], shape[36:48, 2].mean())
        self.assertGreater(shape[8, 1], shape[36:48, 1].mean())
        # A face turned to the image's right reads yaw > 0 (the fit's sign convention).
        # (z points away from the viewer, the nose tip at -z: turning z towards -x by 20
        # degrees about the vertical takes the nose to +x.)
        t = math.radians(20)
        turned = shipped @ np.array([[math.cos(t), 0, -math.sin(t)], [0, 1, 0],
                                     [math.sin(t), 0, math.cos(t)]]).T
        self.assertGreater(turned[30, 0], 0)   # the nose moved right
        (yaw, pitch, roll), _ = fms.fit_pose(turned[:, :2], shipped)
        self.assertAlmostEqual(yaw, 20.0, places=3)
        self.assertAlmostEqual(pitch, 0.0, places=3)


if __name__ == "__main__":
    unittest.main(verbosity=2)
