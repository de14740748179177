"""SAM-GoogLeNet-BN: the seed's 68-point landmark regressor.

GoogLeNet (Inception v1) with BatchNorm after each stage's pooling and a
spatial-attention module (SAM) before each of the four down-sampling pools.
"""
import torch
import torch.nn as nn

# Inception v1 channel counts: (in, 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj)
INCEPTION = {
    "3a": (192, 64, 96, 128, 16, 32, 32),
    "3b": (256, 128, 128, 192, 32, 96, 64),
    "4a": (480, 192, 96, 208, 16, 48, 64),
    "4b": (512, 160, 112, 224, 24, 64, 64),
    "4c": (512, 128, 128, 256, 24, 64, 64),
    "4d": (512, 112, 144, 288, 32, 64, 64),
    "4e": (528, 256, 160, 320, 32, 128, 128),
    "5a": (832, 256, 160, 320, 32, 128, 128),
    "5b": (832, 384, 192, 384, 48, 128, 128),
}


class SpatialAttention(nn.Module):
    """concat(channel mean, channel argmax|max) -> 7x7 conv 2->1 -> sigmoid -> multiply.

    `argmax_scale` multiplies the argmax map before the conv (1 in the seed).
    The facekp recipe uses 1/C so the conv sees indices in [0, 1) instead of
    [0, C) and its sigmoid does not saturate at initialisation; export folds the
    scale into the conv weights, so the ONNX graph is the seed's.
    """

    def __init__(self, channels, mode="argmax", argmax_scale=1.0):
        super().__init__()
        assert mode in ("argmax", "max")
        self.mode = mode
        self.channels = channels
        self.argmax_scale = argmax_scale
        self.conv = nn.Conv2d(2, 1, 7, padding=3)

    def forward(self, x):
        mean = x.mean(dim=1, keepdim=True)
        if self.mode == "argmax":
            second = x.argmax(dim=1, keepdim=True).float()
            if self.argmax_scale != 1.0:
                second = second * self.argmax_scale
        else:
            second = x.amax(dim=1, keepdim=True)
        return x * torch.sigmoid(self.conv(torch.cat([mean, second], dim=1)))

    def fold_argmax_scale(self):
        """Move argmax_scale into the conv weights (for export)."""
        if self.mode == "argmax" and self.argmax_scale != 1.0:
            with torch.no_grad():
                self.conv.weight[:, 1] *= self.argmax_scale
            self.argmax_scale = 1.0


def conv_unit(cin, cout, k, relu, branch_bn, stride=1):
    """Conv (+ BatchNorm when branch_bn) (+ ReLU)."""
    layers = [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=not branch_bn)]
    if branch_bn:
        layers.append(nn.BatchNorm2d(cout))
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class Inception(nn.Module):
    """Inception v1 block; ReLU only at each branch's end, as in the seed."""

    def __init__(self, cin, c1, c3r, c3, c5r, c5, cp, branch_bn=False):
        super().__init__()
        self.b1 = conv_unit(cin, c1, 1, True, branch_bn)
        self.b3 = nn.Sequential(conv_unit(cin, c3r, 1, False, branch_bn),
                                conv_unit(c3r, c3, 3, True, branch_bn))
        self.b5 = nn.Sequential(conv_unit(cin, c5r, 1, False, branch_bn),
                                conv_unit(c5r, c5, 5, True, branch_bn))
        self.bp = nn.Sequential(nn.MaxPool2d(3, 1, 1),
                                conv_unit(cin, cp, 1, True, branch_bn))
        self.out_channels = c1 + c3 + c5 + cp

    def forward(self, x):
        return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], dim=1)


class SamGoogLeNetBN(nn.Module):
    """The seed's landmark network.

    attention: "argmax" (seed) or "max" (CBAM-style).
    in_channels: 3 (gray replicated, the seed) or 1.
    branch_bn: BatchNorm after every conv inside the Inception branches (facekp
        recipe; folded into the convs at export, so inference cost is unchanged).
    """

    def __init__(self, attention="argmax", in_channels=3, num_points=68,
                 branch_bn=False, argmax_scale_by_channels=False, dropout=0.2):
        super().__init__()
        self.attention = attention
        self.in_channels = in_channels
        self.num_points = num_points

        def sam(c):
            scale = 1.0 / c if argmax_scale_by_channels else 1.0
            return SpatialAttention(c, attention, scale)

        pool = lambda: nn.MaxPool2d(3, 2, 1)  # noqa: E731
        self.stem = nn.Sequential(
            conv_unit(in_channels, 64, 7, True, branch_bn, stride=2),
            sam(64), pool(), nn.BatchNorm2d(64),
            conv_unit(64, 64, 1, True, branch_bn),
            conv_unit(64, 192, 3, True, branch_bn),
            sam(192), pool(), nn.BatchNorm2d(192),
        )
        inc = lambda name: Inception(*INCEPTION[name], branch_bn=branch_bn)  # noqa: E731
        self.stage3 = nn.Sequential(inc("3a"), inc("3b"), sam(480), pool(), nn.BatchNorm2d(480))
        self.stage4 = nn.Sequential(inc("4a"), inc("4b"), inc("4c"), inc("4d"), inc("4e"),
                                    sam(832), pool(), nn.BatchNorm2d(832))
        self.stage5 = nn.Sequential(inc("5a"), inc("5b"))
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.BatchNorm1d(1024), nn.Dropout(dropout),
            nn.Linear(1024, 512), nn.ReLU(inplace=True), nn.Linear(512, 2 * num_points))

    def forward(self, x):
        return self.head(self.stage5(self.stage4(self.stage3(self.stem(x)))))

    def prepare_for_export(self):
        """Fold training-only tricks so the exported graph is the seed's graph."""
        for m in self.modules():
            if isinstance(m, SpatialAttention):
                m.fold_argmax_scale()
        return self


def single_channel_copy(model):
    """A 1-channel-input copy of a 3-channel model fed gray replicated to 3 channels.

    conv(w, [g, g, g]) == conv(sum_c w[:, c], g): exact, and the first conv
    does a third of the work.
    """
    import copy
    m = copy.deepcopy(model)
    first = m.stem[0][0]
    if first.in_channels == 1:
        return m
    new = nn.Conv2d(1, first.out_channels, first.kernel_size, first.stride,
                    first.padding, bias=first.bias is not None)
    with torch.no_grad():
        new.weight.copy_(first.weight.sum(dim=1, keepdim=True))
        if first.bias is not None:
            new.bias.copy_(first.bias)
    m.stem[0][0] = new
    m.in_channels = 1
    return m


if __name__ == "__main__":
    net = SamGoogLeNetBN()
    print("parameters:", sum(p.numel() for p in net.parameters()))
