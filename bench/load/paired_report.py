"""Report of a paired load run (bench/load/paired.sh, bench/load/tls.sh with PAIRED=1).

Input: a TSV of runs, one line per (scenario, round, proxy): scenario, round, proxy, req/s, the proxy's CPU ticks
during the run, wrk's p99, errors, and optionally the TCP segments the machine sent during the run. Output: a
Markdown table of each proxy's medians, then the distribution of the per-round FastProxy/peer ratios (req/s, CPU per
request, p99): within a round the runs are back to back, so a shift of the machine's speed moves both sides of most
ratios alike.

    python3 paired_report.py RESULTS.tsv CLK_TCK SECONDS "fastproxy nginx [haproxy]"
"""
import statistics as st, sys
from collections import defaultdict
path, hz, secs, proxies = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4].split()
label = {"fastproxy": "FastProxy", "nginx": "nginx", "haproxy": "HAProxy"}
def ms(text):
    # wrk's latency: "412.50us", "1.23ms", "1.02s", "1.00m"
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0), ("m", 60000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    raise ValueError("wrk latency " + repr(text))

rows = defaultdict(dict)
for line in open(path):
    fields = line.rstrip("\n").split("\t")
    scen, rnd, proxy, rps, ticks, p99, errs = fields[:7]
    requests = float(rps) * secs
    segments = int(fields[7]) / requests if len(fields) > 7 and fields[7] else None
    rows[(scen, int(rnd))][proxy] = (float(rps), int(ticks) / hz * 1e6 / requests, ms(p99), int(errs), segments)
with_segments = all(r[4] is not None for runs in rows.values() for r in runs.values())

def q(values, p):
    values = sorted(values)
    k = (len(values) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)

scenarios = sorted({s for s, _ in rows})
print("| scenario | proxy | median req/s | median CPU µs/req | median p99 ms | errors |" + (" median TCP segments/req |" if with_segments else ""))
print("|---|---|---:|---:|---:|---:|" + ("---:|" if with_segments else ""))
for scen in scenarios:
    for proxy in proxies:
        runs = [r[proxy] for (s, _), r in sorted(rows.items()) if s == scen and proxy in r]
        print(f"| {scen} | {label[proxy]} | {st.median(x[0] for x in runs):,.0f} | {st.median(x[1] for x in runs):.2f} | "
              f"{st.median(x[2] for x in runs):.3f} | {sum(x[3] for x in runs)} |"
              + (f" {st.median(x[4] for x in runs):.2f} |" if with_segments else ""))
print()
print("Per-round ratios (FastProxy / peer, each round's runs back to back):")
print()
print("| scenario | peer | rounds | req/s ratio: median | quartiles | min–max | FastProxy ahead | CPU µs/req ratio: median | quartiles | p99 ratio: median |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for scen in scenarios:
    for peer in proxies:
        if peer == "fastproxy":
            continue
        pairs = [(r["fastproxy"], r[peer]) for (s, _), r in sorted(rows.items()) if s == scen and "fastproxy" in r and peer in r]
        rps = [a[0] / b[0] for a, b in pairs]
        cpu = [a[1] / b[1] for a, b in pairs]
        p99 = [a[2] / b[2] for a, b in pairs]
        ahead = sum(1 for x in rps if x > 1)
        print(f"| {scen} | {label[peer]} | {len(pairs)} | **{st.median(rps):.3f}** | {q(rps, .25):.3f}–{q(rps, .75):.3f} | "
              f"{min(rps):.3f}–{max(rps):.3f} | {ahead} of {len(pairs)} | {st.median(cpu):.3f} | {q(cpu, .25):.3f}–{q(cpu, .75):.3f} | "
              f"{st.median(p99):.3f} |")
