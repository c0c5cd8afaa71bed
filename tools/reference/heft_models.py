"""PyTorch twins of heft's models (same layers, same state-dict names), for golden files and
side-by-side checks. Written for heft; mirrors src/nn/model.rs and src/nn/convert.rs.

AlexNet: torchvision layout, conv1 padding `conv1_pad`, no adaptive pooling (the classifier
input is whatever the features give), `width` multiplies the channel counts, `hidden` is the
fully-connected size. Student: MaxPool -> AvgPool (same window), BatchNorm after each pool
(`features.<i>.bn`), ReLU -> c0 + c1 x + c2 x^2 with coefficients `<name>.coef` = [c0, c1, c2].
SqueezeNet 1.0/1.1: torchvision layout with ceil-mode pools; the student puts BatchNorm after
every feature convolution (`<conv>.bn`).
`batchnorm=True` (heft's --batchnorm) gives the teacher those same BatchNorms (ReLU and max
pooling kept); its student then has them whatever student["batchnorm"] says, as in heft.
ResNet-20 (He et al. 2016, CIFAR): 3x3 stem conv + BN + act, 3 stages of 3 basic blocks (16, 32,
64 channels times `width`, stride 2 at the first block of stages 2 and 3), projection shortcuts
(1x1 conv + BN, "option B") where the shape changes, global average pooling, `fc`. Convolutions
have no bias. The student keeps the BNs and replaces each ReLU (`act1`, `act2`) by Poly.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class Poly(nn.Module):
    """r * (c0 + c1 x + c2 x^2) + (1 - r) * relu(x)."""

    def __init__(self, init=(0.0, 0.5, 0.05), ratio=1.0):
        super().__init__()
        self.coef = nn.Parameter(torch.tensor(init, dtype=torch.float32))
        self.ratio = ratio

    def forward(self, x):
        c = self.coef
        poly = (c[2] * x + c[1]) * x + c[0]
        return self.ratio * poly + (1.0 - self.ratio) * F.relu(x)


class PoolBN(nn.Module):
    """A pooling layer followed by BatchNorm (state-dict names `<i>.bn.*`)."""

    def __init__(self, pool, channels):
        super().__init__()
        self.pool = pool
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x):
        return self.bn(self.pool(x))


class ConvBN(nn.Conv2d):
    """A convolution followed by BatchNorm. It is the Conv2d itself (so its weights keep the
    conv's own names, `<name>.weight`/`.bias`) with the BatchNorm as child `<name>.bn`."""

    def __init__(self, cin, cout, k, stride=1, padding=0):
        super().__init__(cin, cout, k, stride, padding)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return self.bn(super().forward(x))


def scaled(c, width):
    return max(1, round(c * width))


class Net(nn.Module):
    """features -> flatten -> classifier (AlexNet) or features -> classifier -> flatten (SqueezeNet)."""

    def __init__(self, features, classifier, flatten_first):
        super().__init__()
        self.features = features
        self.classifier = classifier
        self.flatten_first = flatten_first

    def forward(self, x):
        x = self.features(x)
        if self.flatten_first:
            return self.classifier(torch.flatten(x, 1))
        return torch.flatten(self.classifier(x), 1)


def has_bn(batchnorm, student):
    """A teacher's own BatchNorms, or those its student inserts."""
    return batchnorm or (student is not None and student.get("batchnorm", True))


def alexnet(classes=2, in_ch=1, size=64, width=1.0, hidden=4096, conv1_pad=5, dropout=0.5, student=None, batchnorm=False):
    w = lambda c: scaled(c, width)
    c1, c2, c3, c4, c5 = w(64), w(192), w(384), w(256), w(256)
    act = (lambda: nn.ReLU()) if student is None else (lambda: Poly(student["init"]))

    def pool(ch):
        p = nn.MaxPool2d(3, 2) if student is None else nn.AvgPool2d(3, 2)
        return PoolBN(p, ch) if has_bn(batchnorm, student) else p

    features = nn.Sequential(
        nn.Conv2d(in_ch, c1, 11, 4, conv1_pad), act(), pool(c1),
        nn.Conv2d(c1, c2, 5, 1, 2), act(), pool(c2),
        nn.Conv2d(c2, c3, 3, 1, 1), act(),
        nn.Conv2d(c3, c4, 3, 1, 1), act(),
        nn.Conv2d(c4, c5, 3, 1, 1), act(), pool(c5),
    )
    with torch.no_grad():
        flat = features.eval()(torch.zeros(1, in_ch, size, size)).numel()
    classifier = nn.Sequential(
        nn.Dropout(dropout), nn.Linear(flat, hidden), act(),
        nn.Dropout(dropout), nn.Linear(hidden, hidden), act(),
        nn.Linear(hidden, classes),
    )
    return Net(features, classifier, flatten_first=True)


class Fire(nn.Module):
    def __init__(self, cin, sq, e1, e3, act, bn):
        super().__init__()
        conv = lambda i, o, k, p: ConvBN(i, o, k, padding=p) if bn else nn.Conv2d(i, o, k, padding=p)
        self.squeeze = conv(cin, sq, 1, 0)
        self.squeeze_activation = act()
        self.expand1x1 = conv(sq, e1, 1, 0)
        self.expand1x1_activation = act()
        self.expand3x3 = conv(sq, e3, 3, 1)
        self.expand3x3_activation = act()

    def forward(self, x):
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)), self.expand3x3_activation(self.expand3x3(x))], 1)


def squeezenet(version="1_1", classes=2, in_ch=1, width=1.0, dropout=0.5, student=None, batchnorm=False):
    w = lambda c: scaled(c, width)
    act = (lambda: nn.ReLU()) if student is None else (lambda: Poly(student["init"]))
    bn = has_bn(batchnorm, student)
    pool = (lambda: nn.MaxPool2d(3, 2, ceil_mode=True)) if student is None else (lambda: nn.AvgPool2d(3, 2, ceil_mode=True))
    conv1 = lambda o, k: ConvBN(in_ch, o, k, 2) if bn else nn.Conv2d(in_ch, o, k, 2)
    f = lambda i, s, e: Fire(w(i), w(s), w(e), w(e), act, bn)
    if version == "1_0":
        layers = [conv1(w(96), 7), act(), pool(), f(96, 16, 64), f(128, 16, 64), f(128, 32, 128), pool(),
                  f(256, 32, 128), f(256, 48, 192), f(384, 48, 192), f(384, 64, 256), pool(), f(512, 64, 256)]
    else:
        layers = [conv1(w(64), 3), act(), pool(), f(64, 16, 64), f(128, 16, 64), pool(), f(128, 32, 128),
                  f(256, 32, 128), pool(), f(256, 48, 192), f(384, 48, 192), f(384, 64, 256), f(512, 64, 256)]
    classifier = nn.Sequential(nn.Dropout(dropout), nn.Conv2d(w(512), classes, 1), act(), nn.AdaptiveAvgPool2d(1))
    return Net(nn.Sequential(*layers), classifier, flatten_first=False)


class BasicBlock(nn.Module):
    """conv3x3 -> BN -> act -> conv3x3 -> BN, plus the shortcut, then act."""

    def __init__(self, cin, cout, stride, act):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.act1 = act()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False), nn.BatchNorm2d(cout))
        self.act2 = act()

    def forward(self, x):
        out = self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x)))))
        return self.act2(out + self.shortcut(x))


class ResNet20(nn.Module):
    def __init__(self, classes=2, in_ch=1, width=1.0, student=None):
        super().__init__()
        w = lambda c: scaled(c, width)
        act = (lambda: nn.ReLU()) if student is None else (lambda: Poly(student["init"]))
        self.conv1 = nn.Conv2d(in_ch, w(16), 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(w(16))
        self.act1 = act()
        cin = w(16)
        for stage, ch in enumerate([16, 32, 64]):
            blocks = []
            for i in range(3):
                blocks.append(BasicBlock(cin, w(ch), 2 if stage > 0 and i == 0 else 1, act))
                cin = w(ch)
            setattr(self, f"layer{stage + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def resnet20(classes=2, in_ch=1, width=1.0, student=None):
    return ResNet20(classes, in_ch, width, student)
