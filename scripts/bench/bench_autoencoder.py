#!/usr/bin/python3
"""scripts/bench_autoencoder.sh's work: onnxinit's autoencoder pass against the same
greedy denoising-autoencoder pass written the usual way in PyTorch (autograd,
nn.functional.linear with the tied weight transposed, Adam), each in its own
process, timed in interleaved pairs; peak RSS from /usr/bin/time."""
import argparse, gzip, os, statistics, subprocess, sys, time

import numpy as np

DATA = '/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz'

REF = r'''
import sys, time, numpy as np, torch, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads(int(sys.argv[2])); torch.manual_seed(0)
x = torch.tensor(np.load(sys.argv[1]), dtype=torch.float32).reshape(-1, 784) / 255
net = nn.Sequential(nn.Linear(784, 256), nn.Sigmoid(), nn.Linear(256, 256), nn.Sigmoid(),
                    nn.Linear(256, 256), nn.Sigmoid(), nn.Linear(256, 10))
layers = [net[0], net[2], net[4]]
h = x
for lin in layers:
    c = torch.zeros(lin.in_features, requires_grad=True)
    opt = torch.optim.Adam(list(lin.parameters()) + [c], lr=1e-3)
    for ep in range(5):
        perm = torch.randperm(len(h))
        for i in range(0, len(h), 64):
            xb = h[perm[i:i + 64]]
            xn = xb * (torch.rand_like(xb) >= 0.2)
            r = F.linear(torch.sigmoid(lin(xn)), lin.weight.t(), c)
            loss = F.mse_loss(r, xb)
            opt.zero_grad(); loss.backward(); opt.step()
    with torch.no_grad():
        h = torch.sigmoid(lin(h))
'''


def idx(path):
    with gzip.open(path, 'rb') as f:
        b = f.read()
    nd = b[3]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], 'big') for i in range(nd)]
    return np.frombuffer(b, np.uint8, offset=4 + 4 * nd).reshape(dims)


def timed(cmd, env=None, work='.'):
    """Seconds and peak RSS (MiB) of cmd. The RSS comes from /usr/bin/time, a
    small parent: Linux carries the forking process's high-water mark (this
    script's, with torch loaded) into the child's ru_maxrss across exec."""
    rss = os.path.join(work, 'rss')
    wrap = ['/usr/bin/time', '-f', '%M', '-o', rss] if os.path.exists('/usr/bin/time') else []
    t0 = time.perf_counter()
    p = subprocess.Popen(wrap + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t0
    err = p.stderr.read().decode()
    if os.waitstatus_to_exitcode(status):
        sys.exit('failed: %s\n%s' % (' '.join(cmd), err))
    if wrap:
        with open(rss) as f:
            return dt, int(f.read().split()[-1]) / 1024.0
    return dt, ru.ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--onnxinit', required=True)
    ap.add_argument('--work', required=True)
    ap.add_argument('--pairs', type=int, default=3)
    ap.add_argument('--samples', type=int, default=20000)
    ap.add_argument('--threads', default='1,2')
    a = ap.parse_args()
    import torch, torch.nn as nn
    data = os.path.join(a.work, 'x.npy')
    np.save(data, idx(DATA).reshape(-1, 784)[:a.samples])
    ref = os.path.join(a.work, 'ref.py')
    open(ref, 'w').write(REF)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(784, 256), nn.Sigmoid(), nn.Linear(256, 256), nn.Sigmoid(),
                        nn.Linear(256, 256), nn.Sigmoid(), nn.Linear(256, 10))
    model = os.path.join(a.work, 'mlp.onnx')
    torch.onnx.export(net, torch.zeros(1, 784), model, input_names=['x'], output_names=['y'],
                      dynamic_axes={'x': {0: 'N'}, 'y': {0: 'N'}})
    print('autoencoder pass, MLP 784-256-256-256-10 (3 layers trained), %d samples, 5 epochs, '
          'batch 64, Adam; %d interleaved pairs' % (a.samples, a.pairs))
    print('%-8s %-10s %9s %9s %9s' % ('threads', 'who', 'min s', 'median s', 'peak MiB'))
    for th in [int(t) for t in a.threads.split(',')]:
        env = dict(os.environ, OMP_NUM_THREADS=str(th), OPENBLAS_NUM_THREADS=str(th))
        ours, theirs = [], []
        for _ in range(a.pairs):
            ours.append(timed([a.onnxinit, 'init', model, '-o', os.path.join(a.work, 'o.onnx'),
                               '-q', '--scheme', 'keep', '--threads', str(th), '--pretrain',
                               'autoencoder(epochs=5,lr=0.001,batch=64,noise=0.2)', '--data',
                               data, '--data-scale', '0.00392156862745098'], env, a.work))
            theirs.append(timed(['/usr/bin/python3', ref, data, str(th)], env, a.work))
        for who, r in (('onnxinit', ours), ('pytorch', theirs)):
            t = [x[0] for x in r]
            print('%-8d %-10s %9.2f %9.2f %9.0f' % (th, who, min(t), statistics.median(t),
                                                    max(x[1] for x in r)))
        print('%-8d ratio onnxinit/pytorch (median): %.2f' % (
            th, statistics.median([x[0] for x in ours]) / statistics.median([x[0] for x in theirs])))
    return 0


if __name__ == '__main__':
    sys.exit(main())
