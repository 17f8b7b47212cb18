#!/usr/bin/env python3
"""PyTorch baseline for bench_gpu: the same pulsed update and noisy reads, written
the way a competent researcher would write them in plain PyTorch (batched over
tiles with tensor ops, no custom kernels, no torch.compile).

Physics, as aimc does it (kernels/common/update.h, devices.h, io.h, cpu_mvm.c):

Pulsed update (SoftBounds, default update, lr 0.01, dw_min 0.001):
  per tile and sample, in order: update management (aihwkit's rule, as
  aimc_update_blab): k = lr max|x| max|d| / dw_min, BL = min(ceil(k), 31),
  A = B = sqrt(lr / (dw_min BL)), d clipped when k > 31, A *= sqrt(max|x| / dv),
  B *= sqrt(dv / max|x|); input line j fires in each of the BL slots with
  probability B|x_j|, output line i with A|d_i|; a slot where both fire is one
  pulse on device (i, j), up when x_j d_i < 0. Each pulse is one SoftBounds step
  with its own cycle-to-cycle noise xi (dw_min_std 0.3, multiplicative):
      up:   h += s_up (1 - h / b_max) (1 + 0.3 xi)
      down: h -= s_dn (1 - h / b_min) (1 + 0.3 xi)
  clipped to [b_min, b_max] after every pulse. Per-device b_min, b_max, s_up,
  s_dn and the two slopes are drawn once (device-to-device spread, aihwkit
  defaults) and stored as six float planes, as aimc stores them. The loop runs
  over the BL slots, so n coincidences are n sequential steps, as in hardware.

Noisy read (default IO): abs-max noise management (inputs / max|x|), 7-bit
  DAC (step 2/126, half-to-even rounding), clip to +-1, exact fp32 product
  (TF32 off), output noise 0.06, 9-bit ADC (step 24/510), clip at +-12; the
  forward repeats with the inputs halved while an output saturates (iterative
  bound management: up to 5 passes under aihwkit's stop rules), the backward
  does not; outputs are scaled back by max|x| times the reduction.

It does the same amount of physics as aimc; it is not bit-identical (other
random streams). Prints a markdown table of ms per call, with the mean pulses
per weight and sample (update) and the error against the exact product
(reads) as a check that the physics is there.

Options match bench_gpu's and restrict this script's grid, which by default
holds only the rows the targets need plus a few (the faithful update is slow
in PyTorch); --all takes the whole cartesian grid instead. Exit 77 when PyTorch
or a CUDA device is missing.
"""
import argparse
import math
import sys
import time

LR = 0.01
DW_MIN = 0.001
DESIRED_BL = 31
DW_MIN_DTOD = 0.3
DW_MIN_STD = 0.3
UP_DOWN_DTOD = 0.01
W_BOUND = 0.6
W_BOUND_DTOD = 0.3
WEIGHT_RANGE = 0.3

INP_BOUND = 1.0
INP_STEP = 2.0 * INP_BOUND / 126.0
OUT_BOUND = 12.0
OUT_STEP = 2.0 * OUT_BOUND / 510.0
OUT_NOISE = 0.06
MAX_BM_FACTOR = 1000.0
MAX_BM_RES = 0.25

OPS = ("update", "forward", "backward")

# Default grid: (op, tiles, rows, cols, batch).
DEFAULT_ROWS = (
    [("update", n, s, s, b) for (n, s, b) in
     [(64, 256, 1), (64, 256, 16), (1024, 256, 1), (1024, 256, 16), (1024, 512, 1),
      (1024, 512, 16), (4096, 256, 1)]]
    + [(op, n, s, s, b) for op in ("forward", "backward") for s in (256, 512)
       for n in (64, 1024, 4096) for b in (1, 16, 128)]
)


def int_list(text):
    try:
        vals = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError("expected comma-separated integers: %r" % text)
    if not vals or min(vals) < 1:
        raise argparse.ArgumentTypeError("expected positive integers: %r" % text)
    return vals


def shape_list(text):
    out = []
    for item in text.split(","):
        parts = item.lower().split("x")
        try:
            if len(parts) == 1:
                r = c = int(parts[0])
            elif len(parts) == 2:
                r, c = int(parts[0]), int(parts[1])
            else:
                raise ValueError
        except ValueError:
            raise argparse.ArgumentTypeError("expected N or RxC, comma-separated: %r" % text)
        if r < 1 or c < 1:
            raise argparse.ArgumentTypeError("shapes must be positive: %r" % text)
        out.append((r, c))
    return out


def op_list(text):
    ops = text.split(",")
    for op in ops:
        if op not in OPS:
            raise argparse.ArgumentTypeError("expected a list of update, forward, backward: %r" % text)
    return ops


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tiles", type=int_list, help="n_tiles values to keep")
    p.add_argument("--shapes", type=shape_list, help="tile shapes to keep: N or RxC")
    p.add_argument("--batches", type=int_list, help="batch sizes to keep")
    p.add_argument("--ops", type=op_list, help="operations to keep: update,forward,backward")
    p.add_argument("--min-ms", type=float, default=50.0, help="timed work per row (default 50)")
    p.add_argument("--copy-mib", type=int, default=1024, help="copy reference size (default 1024)")
    p.add_argument("--csv", help="also write the rows as CSV to this file")
    p.add_argument("--device", type=int, default=0, help="CUDA device ordinal (default 0)")
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--all", action="store_true",
                   help="the cartesian grid of the given lists, by default bench_gpu's whole "
                        "grid 1,64,1024,4096 x 256,512 x 1,16,128 (slow)")
    a = p.parse_args(argv)
    if not 1.0 <= a.min_ms <= 60000.0:
        p.error("--min-ms must be in [1, 60000]")
    if a.copy_mib < 1:
        p.error("--copy-mib must be positive")
    return a


def select_rows(a):
    if a.all:  # the cartesian grid of the given lists (bench_gpu's grid by default)
        rows = [(op, n, r, c, b) for op in (a.ops or OPS)
                for (r, c) in (a.shapes or [(256, 256), (512, 512)])
                for n in (a.tiles or [1, 64, 1024, 4096]) for b in (a.batches or [1, 16, 128])]
    else:  # this script's grid, restricted by the given lists
        rows = [r for r in DEFAULT_ROWS
                if (not a.tiles or r[1] in a.tiles) and (not a.shapes or (r[2], r[3]) in a.shapes)
                and (not a.batches or r[4] in a.batches) and (not a.ops or r[0] in a.ops)]
    # group by (tiles, shape) so the device state is drawn once per group
    order = {op: k for k, op in enumerate(OPS)}
    rows.sort(key=lambda r: (r[2] * r[3], r[2], r[1], r[4], order[r[0]]))
    return rows


def main(argv):
    a = parse_args(argv)
    try:
        import torch
    except ImportError as e:
        print("torch_peer: PyTorch is not installed (%s): no PyTorch baseline" % e, file=sys.stderr)
        return 77
    if not torch.cuda.is_available():
        print("torch_peer: PyTorch %s sees no CUDA device: no PyTorch baseline" % torch.__version__,
              file=sys.stderr)
        return 77
    if a.device >= torch.cuda.device_count():
        print("torch_peer: CUDA device %d is not present (%d found)"
              % (a.device, torch.cuda.device_count()), file=sys.stderr)
        return 77

    dev = torch.device("cuda", a.device)
    torch.cuda.set_device(dev)
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 products, as aimc and bench_gpu's cuBLAS
    torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(a.seed)
    t_start = time.perf_counter()

    def log(msg):
        print("[%7.1f s] %s" % (time.perf_counter() - t_start, msg), file=sys.stderr, flush=True)

    # ---- timing ---------------------------------------------------------
    def time_fn(fn):
        """Median ms per call: warm-up, one sizing call, then 5 groups (3 single
        calls above 100 ms, the sizing call alone above 1 s), as bench_gpu."""
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        warm = 1e3 * (time.perf_counter() - t0)
        if warm > 5000.0:
            return warm, 0, "warm-up call only (host clock)"
        e0 = torch.cuda.Event(enable_timing=True)
        e1 = torch.cuda.Event(enable_timing=True)
        e0.record()
        fn()
        e1.record()
        e1.synchronize()
        t1 = e0.elapsed_time(e1)
        if t1 >= 1000.0:
            return t1, 1, ""
        groups = 3 if t1 >= 100.0 else 5
        reps = 1 if t1 >= 100.0 else max(1, min(20000, math.ceil(a.min_ms / groups / max(t1, 1e-4))))
        times = []
        for _ in range(groups):
            e0.record()
            for _ in range(reps):
                fn()
            e1.record()
            e1.synchronize()
            times.append(e0.elapsed_time(e1) / reps)
        times.sort()
        return times[groups // 2], groups * reps, ""

    def copy_bandwidth():
        n = (a.copy_mib << 20) // 4
        src = torch.rand(n, device=dev)
        dst = torch.empty_like(src)
        for _ in range(2):
            dst.copy_(src)
        e0 = torch.cuda.Event(enable_timing=True)
        e1 = torch.cuda.Event(enable_timing=True)
        ts = []
        for _ in range(10):
            e0.record()
            dst.copy_(src)
            e1.record()
            e1.synchronize()
            ts.append(e0.elapsed_time(e1))
        ts.sort()
        del src, dst
        torch.cuda.empty_cache()
        return 2.0 * n * 4 / (0.5 * (ts[4] + ts[5]) * 1e-3) / 1e9

    # ---- physics ----------------------------------------------------------
    def uniform(shape, scale=1.0):
        return (torch.rand(shape, device=dev) * 2.0 - 1.0) * scale

    def sample_devices(T, R, C):
        """SoftBounds device-to-device draws (aimc_device_sample, aihwkit defaults)."""
        shape = (T, R, C)
        bmax = W_BOUND * (1.0 + W_BOUND_DTOD * torch.randn(shape, device=dev))
        bmin = -W_BOUND * (1.0 + W_BOUND_DTOD * torch.randn(shape, device=dev))
        gain = 1.0 + DW_MIN_DTOD * torch.randn(shape, device=dev)
        r = UP_DOWN_DTOD * torch.randn(shape, device=dev)
        s_up = ((gain + r) * DW_MIN).abs_()
        s_dn = ((gain - r) * DW_MIN).abs_()
        del gain, r
        hi = torch.maximum(bmin, bmax)  # enforce consistency: bounds straddle 0
        lo = torch.minimum(bmin, bmax)
        bmax = hi.abs_()
        bmin = lo.abs_().neg_()
        del hi, lo
        st = {
            "bmin": bmin, "bmax": bmax,
            # the two step planes and the two slopes, with the down ones negated so
            # that one pulse is h + (slope h + step) (1 + std xi) in both directions
            "s_up": s_up, "s_dn_neg": s_dn.neg(),
            "p_up": (-s_up / bmax), "p_dn_neg": (s_dn / bmin),
        }
        del s_dn
        st["h"] = torch.minimum(torch.maximum(uniform(shape, WEIGHT_RANGE), bmin), bmax)
        for k in ("slope", "step", "xi"):
            st[k] = torch.empty(shape, device=dev)
        st["up"] = torch.empty(shape, device=dev, dtype=torch.bool)
        st["coinc"] = torch.empty(shape, device=dev, dtype=torch.bool)
        return st

    def pulsed_update(st, x, d, count=None):
        """One update call: the samples of x [T,B,C] and d [T,B,R] in order."""
        T, B, C = x.shape
        R = d.shape[2]
        slope, step, xi, coinc, up = st["slope"], st["step"], st["xi"], st["coinc"], st["up"]
        bmin, bmax = st["bmin"], st["bmax"]
        for b in range(B):
            xb, db = x[:, b, :], d[:, b, :]
            xmax = xb.abs().amax(dim=1)
            dmax = db.abs().amax(dim=1)
            k = LR * xmax * dmax / DW_MIN
            bl = torch.clamp(torch.ceil(k), max=float(DESIRED_BL))
            bl = torch.where((xmax == 0) | (dmax == 0), torch.zeros_like(bl), bl)
            a0 = torch.sqrt(LR / (DW_MIN * bl.clamp(min=1.0)))
            dv = torch.where(k > DESIRED_BL, dmax * DESIRED_BL / k, dmax).clamp(min=1e-30)
            xv = xmax.clamp(min=1e-30)
            p_x = (a0 * torch.sqrt(dv / xv))[:, None] * xb.abs()  # B |x_j|
            p_d = (a0 * torch.sqrt(xv / dv))[:, None] * db.abs()  # A |d_i|
            # W -= lr d x^T: up where x_j and d_i differ in sign
            torch.ne((xb < 0)[:, None, :], (db < 0)[:, :, None], out=up)
            torch.where(up, st["p_up"], st["p_dn_neg"], out=slope)
            torch.where(up, st["s_up"], st["s_dn_neg"], out=step)
            n_slots = int(bl.max().item())
            for slot in range(n_slots):
                on = (bl > slot)[:, None]
                fire_x = (torch.rand((T, C), device=dev) < p_x) & on
                fire_d = torch.rand((T, R), device=dev) < p_d
                torch.logical_and(fire_d[:, :, None], fire_x[:, None, :], out=coinc)
                if count is not None:
                    count += coinc.sum()
                h = st["h"]
                xi.normal_().mul_(DW_MIN_STD).add_(1.0)  # c2c noise of this slot's pulses
                h_new = torch.addcmul(step, slope, h)  # slope h + step
                h_new.mul_(xi).add_(h)
                torch.maximum(h_new, bmin, out=h_new)
                torch.minimum(h_new, bmax, out=h_new)
                st["h"] = torch.where(coinc, h_new, h)
                del h, h_new

    def noisy_read(W, inp, transposed, bound_management):
        """Forward y = W x ([T,B,C] -> [T,B,R]) or backward W^T d with the default IO."""
        s = inp.abs().amax(dim=2, keepdim=True)  # abs-max noise management
        zero = s == 0
        s = torch.where(zero, torch.ones_like(s), s)
        r = torch.ones_like(s)
        active = ~zero
        out = None
        while True:
            scale = (1.0 / s) / r
            v = torch.round(inp * scale / INP_STEP).mul_(INP_STEP).clamp_(-INP_BOUND, INP_BOUND)
            y = torch.bmm(v, W) if transposed else torch.bmm(v, W.transpose(1, 2))
            y.add_(torch.randn_like(y), alpha=OUT_NOISE)
            y.div_(OUT_STEP).round_().mul_(OUT_STEP)
            hit = (y.abs() > OUT_BOUND).any(dim=2, keepdim=True)
            y.clamp_(-OUT_BOUND, OUT_BOUND).mul_(s * r)
            out = y if out is None else torch.where(active, y, out)
            if not bound_management:
                break
            active = active & hit & (r <= MAX_BM_FACTOR) & (r <= MAX_BM_RES / INP_STEP)
            if not bool(active.any()):
                break
            r = torch.where(active, r * 2.0, r)
        return torch.where(zero, torch.zeros_like(out), out)

    # ---- rows --------------------------------------------------------------
    rows = select_rows(a)
    props = torch.cuda.get_device_properties(dev)
    log("%s: copy reference (%d MiB)" % (props.name, a.copy_mib))
    # warm the libraries up (cuRAND, cuBLAS) before anything is timed
    torch.bmm(torch.rand((2, 8, 8), device=dev), torch.rand((2, 8, 8), device=dev))
    torch.randn(16, device=dev)
    torch.cuda.synchronize()
    copy_gbps = copy_bandwidth()

    csv = open(a.csv, "w") if a.csv else None
    if csv:
        csv.write("op,tiles,rows,cols,batch,status,ms,calls,check,note\n")
        csv.write("copy,0,0,0,0,ok,%.6f,10,%.3f,tensor.copy_ D2D GB/s in check\n"
                  % (2.0 * (a.copy_mib << 20) / copy_gbps / 1e6, copy_gbps))
        csv.flush()
    results = []

    def emit(op, n, R, C, b, status, ms, calls, check, note):
        note = note.replace("|", "/").replace(",", ";").replace("\n", " ")
        results.append((op, n, R, C, b, status, ms, calls, check, note))
        if csv:
            csv.write("%s,%d,%d,%d,%d,%s,%.6f,%d,%.5f,%s\n" % (op, n, R, C, b, status, ms, calls,
                                                            check, note))
            csv.flush()
        if status == "ok":
            log("%-8s %5d x %dx%d batch %-4d %10.4f ms  check %.3g %s" % (op, n, R, C, b, ms,
                                                                          check, note))
        else:
            log("%-8s %5d x %dx%d batch %-4d %s: %s" % (op, n, R, C, b, status, note))

    def is_oom(e):
        return isinstance(e, RuntimeError) and "out of memory" in str(e)

    groups = []
    for row in rows:
        key = (row[1], row[2], row[3])
        if not groups or groups[-1][0] != key:
            groups.append((key, []))
        groups[-1][1].append(row)

    for (n, R, C), grp in groups:
        nw = n * R * C
        max_b = max(r[4] for r in grp)
        need_state = 4.0 * nw * (1 + 6 + 5) + 2.0 * nw  # h, 6 planes, 5 scratch, 2 masks
        need_io = 4.0 * n * max_b * (R + C) * 6  # inputs, outputs and read temporaries
        has_update = any(r[0] == "update" for r in grp)
        need = (need_state if has_update else 4.0 * nw * 2) + need_io + (1 << 30)
        free_b, _ = torch.cuda.mem_get_info(dev)
        if need > free_b:
            for (op, _, _, _, b) in grp:
                emit(op, n, R, C, b, "skipped", 0.0, 0, float("nan"),
                     "%.1f GiB needed; %.1f GiB free" % (need / 2**30, free_b / 2**30))
            continue
        log("drawing %d tiles of %dx%d" % (n, R, C))
        st = w_only = x_all = d_all = x = d = None
        done = set()
        try:
            if has_update:
                st = sample_devices(n, R, C)
                weights = lambda: st["h"]  # noqa: E731 (the state moves between buffers)
            else:
                w_only = uniform((n, R, C), WEIGHT_RANGE)
                weights = lambda: w_only  # noqa: E731
            x_all = uniform((n, max_b, C))
            d_all = uniform((n, max_b, R))
            for (op, _, _, _, b) in grp:
                x = x_all[:, :b, :].contiguous()
                d = d_all[:, :b, :].contiguous()
                try:
                    if op == "update":
                        count = torch.zeros((), device=dev, dtype=torch.int64)
                        pulsed_update(st, x, d, count)  # counted call: pulses per weight
                        check = float(count.item()) / (nw * b)
                        ms, calls, note = time_fn(lambda: pulsed_update(st, x, d))
                    else:
                        W = weights()
                        back = op == "backward"
                        inp = d if back else x
                        y = noisy_read(W, inp, back, not back)
                        exact = torch.bmm(inp, W) if back else torch.bmm(inp, W.transpose(1, 2))
                        check = float((y - exact).norm() / exact.norm())
                        del y, exact
                        ms, calls, note = time_fn(lambda: noisy_read(W, inp, back, not back))
                    emit(op, n, R, C, b, "ok", ms, calls, check, note)
                except RuntimeError as e:
                    if not is_oom(e):
                        raise
                    torch.cuda.empty_cache()
                    emit(op, n, R, C, b, "skipped", 0.0, 0, float("nan"), "out of memory")
                done.add((op, b))
        except RuntimeError as e:
            if not is_oom(e):
                raise
            for (op, _, _, _, b) in grp:
                if (op, b) not in done:
                    emit(op, n, R, C, b, "skipped", 0.0, 0, float("nan"), "out of memory")
        st = w_only = x_all = d_all = x = d = None
        torch.cuda.empty_cache()

    if csv:
        csv.close()

    cuda_ver = torch.version.cuda or "?"
    print("- PyTorch %s (CUDA %s) on %s; fp32 products (TF32 off); tensor.copy_ of %d MiB: "
          "%.1f GB/s (bytes read + written, median of 10)"
          % (torch.__version__, cuda_ver, props.name, a.copy_mib, copy_gbps))
    print("- update: the faithful per-slot loop (one tensor pass per BL slot and sample; noise "
          "drawn for every device, kept where a coincidence fires); check = mean device pulses "
          "per weight and sample of one counted call (aimc: ~2.5)")
    print("- forward/backward: the default IO pipeline with torch.bmm; check = "
          "||y - W x|| / ||W x|| of one call (IO noise alone: ~0.03-0.05)")
    print("- times: torch.cuda.Event, median of 5 groups after a warm-up (>= %.0f ms timed per "
          "row), as bench_gpu" % a.min_ms)
    print()
    print("| op | tiles | shape | batch | torch ms/call | check | timed calls | note |")
    print("|:---|------:|:------|------:|--------------:|------:|------------:|:-----|")
    for (op, n, R, C, b, status, ms, calls, check, note) in results:
        if status == "ok":
            print("| %s | %d | %dx%d | %d | %.4f | %.3g | %d | %s |"
                  % (op, n, R, C, b, ms, check, calls, note))
        else:
            print("| %s | %d | %dx%d | %d | - | - | - | %s: %s |" % (op, n, R, C, b, status, note))
    if not results:
        print("| (no rows: the options select none of this script's grid; --all widens it) "
              "| | | | | | | |")
    print()
    log("done")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
