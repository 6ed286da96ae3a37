"""IResNet-50 and MobileFaceNet from arcface_torch (the folder is the first
argument), forward + backward + SGD step at batch 64, 112x112, on the CPU:
the PyTorch side of scripts/train-engine-bench.sh."""
import sys, time, torch
sys.path.insert(0, sys.argv[1])
from backbones.iresnet import iresnet50
from backbones.mobilefacenet import get_mbf
torch.manual_seed(0)
for name, net in [("mbf", get_mbf(False, 512)), ("r50", iresnet50())]:
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(64, 3, 112, 112)
    for i in range(5):
        t = time.perf_counter()
        opt.zero_grad(); y = net(x); y.square().mean().backward(); opt.step()
        print(name, i, round(time.perf_counter() - t, 3), "s/step", flush=True)
