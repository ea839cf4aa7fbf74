"""PyTorch twins of win's models, with win's parameter names, for the reference fixtures
(tools/make_fixtures.py), the benchmark peer (tools/bench/torch_bench.py) and exports of win's
HDF5 weights to PyTorch. Each class mirrors the C++ builder named in its docstring; a change to
one must be made to the other (the fixture tests fail otherwise).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class SelfAttention(nn.Module):
    """BERT's self-attention (HuggingFace BertSelfAttention names), mask as additive -10000."""

    def __init__(self, hidden, heads, p=0.0):
        super().__init__()
        self.heads, self.p = heads, p
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.mask = None

    def forward(self, x):
        b, t, d = x.shape
        h, dh = self.heads, d // self.heads

        def split(z):
            return z.view(b, t, h, dh).permute(0, 2, 1, 3)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(dh)
        if self.mask is not None:
            scores = scores + (1.0 - self.mask[:, None, None, :].to(scores.dtype)) * -10000.0
        probs = F.dropout(torch.softmax(scores, dim=-1), self.p, self.training)
        return (probs @ v).permute(0, 2, 1, 3).reshape(b, t, d)



class MlpBlock(nn.Module):
    """One block of src/models/mlp.cpp: `inner` (fc1, act, fc2) or `plain` (fc, act)."""

    def __init__(self, d_in, h, d_out, act, inner):
        super().__init__()
        self.act, self.inner = act, inner
        if inner:
            self.fc1, self.fc2 = nn.Linear(d_in, h), nn.Linear(h, d_out)
        else:
            self.fc = nn.Linear(d_in, d_out)

    def forward(self, x):
        if self.inner:
            return self.fc2(self.act(self.fc1(x)))
        return self.act(self.fc(x))


class Mlp(nn.Module):
    """src/models/mlp.cpp: stem (inner form only), blocks.<i>, head."""

    def __init__(self, inp, width, depth, classes, inner=32, block="inner", act="relu"):
        super().__init__()
        f = F.relu if act == "relu" else F.gelu
        self.inner = block == "inner"
        if self.inner:
            self.stem = nn.Linear(inp, width)
        self.blocks = nn.ModuleList([
            MlpBlock(width if (self.inner or i > 0) else inp, inner, width, f, self.inner) for i in range(depth)])
        self.head = nn.Linear(width, classes)

    def forward(self, x):
        x = x.flatten(1)
        if self.inner:
            x = self.stem(x)
        for b in self.blocks:
            x = b(x)
        return self.head(x)


class Bottleneck(nn.Module):
    """src/models/resnet_blocks.cpp Bottleneck (torchvision v1.5); inner_scale widens the inner
    width only (a teacher), the output stays width * 4."""

    def __init__(self, cin, width, stride, inner_scale=1):
        super().__init__()
        out = width * 4
        width = width * inner_scale
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.downsample = None
        if stride != 1 or cin != out:
            self.downsample = nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = F.relu(self.bn2(self.conv2(h)))
        h = self.bn3(self.conv3(h))
        return F.relu(h + (self.downsample(x) if self.downsample is not None else x))


class BasicBlock(nn.Module):
    """src/models/resnet_blocks.cpp BasicBlock (torchvision)."""

    def __init__(self, cin, width, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample = None
        if stride != 1 or cin != width:
            self.downsample = nn.Sequential(nn.Conv2d(cin, width, 1, stride, bias=False), nn.BatchNorm2d(width))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return F.relu(h + (self.downsample(x) if self.downsample is not None else x))


class ResNet(nn.Module):
    """src/models/resnet.cpp: bottleneck or basic blocks, `small` (3x3/1) or `imagenet` (7x7/2 +
    max pool) stem, torchvision names. inner_scale widens every block's inner width (a teacher)."""

    def __init__(self, in_channels, stem_width, base_width, layers, classes, block="bottleneck",
                 stem="small", inner_scale=1):
        super().__init__()
        self.imagenet = stem == "imagenet"
        if self.imagenet:
            self.conv1 = nn.Conv2d(in_channels, stem_width, 7, 2, 3, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, stem_width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem_width)
        cin = stem_width
        expansion = 4 if block == "bottleneck" else 1
        for s, n in enumerate(layers):
            blocks = []
            for b in range(n):
                stride = 2 if (b == 0 and s > 0) else 1
                if block == "bottleneck":
                    blk = Bottleneck(cin, base_width << s, stride, inner_scale)
                else:
                    blk = BasicBlock(cin, base_width << s, stride)
                blocks.append(blk)
                cin = (base_width << s) * expansion
            setattr(self, "layer%d" % (s + 1), nn.Sequential(*blocks))
        self.fc = nn.Linear(cin, classes)
        self.nlayers = len(layers)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        if self.imagenet:
            x = F.max_pool2d(x, 3, 2, 1)
        for s in range(self.nlayers):
            x = getattr(self, "layer%d" % (s + 1))(x)
        return self.fc(x.mean((2, 3)))


def from_config(model):
    """The twin of a deck's [model] section (a dict, as tomllib reads it)."""
    fam = model["family"]
    if fam == "mlp":
        m = model["mlp"]
        return Mlp(m["input_size"], m["width"], m["depth"], model["classes"], inner=m["inner"],
                   block=m["block"], act=m["activation"])
    if fam == "resnet":
        r = model["resnet"]
        mult = r["width_multiplier"]
        scaled = lambda w: max(1, int(round(w * mult)))
        base = scaled(r["base_width"])
        stem = scaled(r["stem_width"] if r["stem_width"] > 0 else r["base_width"])
        if any(scaled(r["base_width"] << s) != base << s for s in range(len(r["layers"]))):
            raise SystemExit("export: width_multiplier %g does not scale stage widths by powers of 2" % mult)
        return ResNet(r["in_channels"], stem, base, r["layers"], model["classes"], block=r["block"],
                      stem=r["stem"], inner_scale=r.get("inner_scale", 1))
    raise SystemExit("export: family %r has no PyTorch twin for export (mlp and resnet do)" % fam)


class BertEmbeddings(nn.Module):
    def __init__(self, vocab, d, maxpos, types, p):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, d)
        self.position_embeddings = nn.Embedding(maxpos, d)
        self.token_type_embeddings = nn.Embedding(types, d)
        self.LayerNorm = nn.LayerNorm(d, eps=1e-12)
        self.p = p

    def forward(self, ids, seg):
        pos = torch.arange(ids.shape[1]).expand_as(ids)
        return F.dropout(self.LayerNorm(self.word_embeddings(ids) + self.position_embeddings(pos) +
                                        self.token_type_embeddings(seg)), self.p, self.training)


class Dense(nn.Module):
    def __init__(self, i, o, ln):
        super().__init__()
        self.dense = nn.Linear(i, o)
        if ln:
            self.LayerNorm = nn.LayerNorm(o, eps=1e-12)


class BertAttention(nn.Module):
    def __init__(self, d, heads, p):
        super().__init__()
        setattr(self, "self", SelfAttention(d, heads, p))
        self.output = Dense(d, d, True)


class BertLayer(nn.Module):
    """src/models/bert_layers.cpp BertLayer (post-LN)."""

    def __init__(self, d, heads, ffn, p):
        super().__init__()
        self.attention = BertAttention(d, heads, p)
        self.intermediate = Dense(d, ffn, False)
        self.output = Dense(ffn, d, True)
        self.p = p

    def forward(self, x, mask):
        att = getattr(self.attention, "self")
        att.mask = mask
        drop = lambda z: F.dropout(z, self.p, self.training)
        h = self.attention.output.LayerNorm(x + drop(self.attention.output.dense(att(x))))
        return self.output.LayerNorm(h + drop(self.output.dense(F.gelu(self.intermediate.dense(h)))))


class Bert(nn.Module):
    """src/models/bert.cpp with the pretraining heads: HuggingFace names without "bert."."""

    def __init__(self, vocab, d, layers, heads, ffn, maxpos=512, types=2, p=0.0):
        super().__init__()
        self.embeddings = BertEmbeddings(vocab, d, maxpos, types, p)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList([BertLayer(d, heads, ffn, p) for _ in range(layers)])
        self.pooler = Dense(d, d, False)
        self.cls = nn.Module()
        self.cls.predictions = nn.Module()
        self.cls.predictions.transform = Dense(d, d, True)
        self.cls.predictions.bias = nn.Parameter(torch.zeros(vocab))
        self.cls.seq_relationship = nn.Linear(d, 2)
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, nn.Embedding):
                    m.weight.normal_(0, 0.02)

    def forward(self, ids, seg, mask, positions):
        x = self.embeddings(ids, seg)
        for layer in self.encoder.layer:
            x = layer(x, mask)
        b, t, d = x.shape
        rows = x.reshape(b * t, d)[(torch.arange(b)[:, None] * t + positions).reshape(-1)]
        tr = self.cls.predictions.transform
        mlm = tr.LayerNorm(F.gelu(tr.dense(rows))) @ self.embeddings.word_embeddings.weight.t() + \
            self.cls.predictions.bias
        nsp = self.cls.seq_relationship(torch.tanh(self.pooler.dense(x[:, 0])))
        return mlm, nsp
