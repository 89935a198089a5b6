#!/usr/bin/python3
"""The point of the autoencoder pass, measured: a sigmoid MLP 784-256-256-256-10
exported from PyTorch, pretrained by onnxinit on unlabeled Fashion-MNIST, then
fine-tuned in PyTorch on few labelled images; its test accuracy against the same
fine-tuning from PyTorch's default init. Exit 77 (skipped) without the data set."""
import argparse, gzip, os, subprocess, sys, time

import numpy as np

DATA = '/usr/share/datasets/fashion-mnist'


def idx(path):
    with gzip.open(path, 'rb') as f:
        b = f.read()
    nd = b[3]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], 'big') for i in range(nd)]
    return np.frombuffer(b, np.uint8, offset=4 + 4 * nd).reshape(dims)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--onnxinit', required=True)
    ap.add_argument('--work', required=True)
    ap.add_argument('--seeds', default='1')
    ap.add_argument('--unlabeled', type=int, default=20000)
    ap.add_argument('--labelled', type=int, default=1000)
    ap.add_argument('--epochs', type=int, default=5)
    ap.add_argument('--ft-epochs', type=int, default=30)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--margin', type=float, default=0.10)
    a = ap.parse_args()
    if not os.path.exists(os.path.join(DATA, 'train-images-idx3-ubyte.gz')):
        print('no Fashion-MNIST at ' + DATA + ' (scripts/setup.sh installs dataset-fashion-mnist)')
        return 77
    import onnx
    from onnx import numpy_helper
    import torch
    import torch.nn as nn
    torch.set_num_threads(a.threads)
    os.makedirs(a.work, exist_ok=True)
    xtr = idx(os.path.join(DATA, 'train-images-idx3-ubyte.gz')).reshape(-1, 784)
    ytr = idx(os.path.join(DATA, 'train-labels-idx1-ubyte.gz')).astype(np.int64)
    xte = idx(os.path.join(DATA, 't10k-images-idx3-ubyte.gz')).reshape(-1, 784)
    yte = idx(os.path.join(DATA, 't10k-labels-idx1-ubyte.gz')).astype(np.int64)
    unl = os.path.join(a.work, 'unlabeled.npy')
    np.save(unl, xtr[:a.unlabeled])  # bytes: --data-scale makes them [0, 1]
    # the labelled images are not among the unlabeled ones
    xl = torch.tensor(xtr[-a.labelled:], dtype=torch.float32) / 255
    yl = torch.tensor(ytr[-a.labelled:])
    xt = torch.tensor(xte, dtype=torch.float32) / 255
    yt = torch.tensor(yte)

    def mlp():
        return nn.Sequential(nn.Linear(784, 256), nn.Sigmoid(), nn.Linear(256, 256), nn.Sigmoid(),
                             nn.Linear(256, 256), nn.Sigmoid(), nn.Linear(256, 10))

    def finetune(net, seed):
        g = torch.Generator().manual_seed(seed)
        opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        for _ in range(a.ft_epochs):
            perm = torch.randperm(len(xl), generator=g)
            for i in range(0, len(xl), 64):
                b = perm[i:i + 64]
                opt.zero_grad()
                nn.functional.cross_entropy(net(xl[b]), yl[b]).backward()
                opt.step()
        with torch.no_grad():
            return (net(xt).argmax(1) == yt).float().mean().item()

    rows = []
    for seed in [int(s) for s in a.seeds.split(',')]:
        torch.manual_seed(seed)
        net = mlp()
        path = os.path.join(a.work, 'mlp_%d.onnx' % seed)
        torch.onnx.export(net, torch.zeros(1, 784), path, input_names=['x'], output_names=['y'],
                          dynamic_axes={'x': {0: 'N'}, 'y': {0: 'N'}})
        base = mlp()
        base.load_state_dict(net.state_dict())
        pre = os.path.join(a.work, 'mlp_%d_ae.onnx' % seed)
        t0 = time.time()
        r = subprocess.run([a.onnxinit, 'init', path, '-o', pre, '--scheme', 'keep', '--seed',
                            str(seed), '--threads', str(a.threads), '--pretrain',
                            'autoencoder(epochs=%d,lr=0.001,batch=64,noise=0.2,optimizer=adam)'
                            % a.epochs, '--data', unl, '--data-scale', '0.00392156862745098',
                            '-v'], capture_output=True, text=True)
        secs = time.time() - t0
        sys.stderr.write(r.stderr)
        if r.returncode:
            print('onnxinit failed: exit %d' % r.returncode)
            return 1
        m = onnx.load(pre)
        vals = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
        sd = net.state_dict()
        missing = [k for k in sd if k not in vals]
        if missing:
            print('the export renamed parameters: %s' % missing)
            return 1
        net.load_state_dict({k: torch.tensor(vals[k].copy()) for k in sd})
        acc_base = finetune(base, seed)
        acc_pre = finetune(net, seed)
        rows.append((seed, acc_base, acc_pre, secs))
        print('seed %d: default init %.2f %%, autoencoder %.2f %% (pass %.1f s)'
              % (seed, 100 * acc_base, 100 * acc_pre, secs), flush=True)
    mb = np.mean([r[1] for r in rows])
    mp = np.mean([r[2] for r in rows])
    print('mean over %d seeds: default init %.2f %%, autoencoder %.2f %%' % (len(rows), 100 * mb,
                                                                         100 * mp))
    bad = [r for r in rows if not r[2] > r[1] + a.margin]
    if bad:
        print('FAIL: the pretrained MLP does not beat the default init by %.0f points'
              % (100 * a.margin))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
