"""Plain-text views of training reports, indicators, breakdowns and backtests (the JSON is stored as is)."""
from __future__ import annotations

import time

from crm_app.errors import did_you_mean


def _date(ts) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts)) if ts is not None else "?"


def _pct(x) -> str:
    return "–" if x is None else f"{x:.1%}"


def format_report(r: dict) -> str:
    """The training report: counts, CV metrics, calibration, top indicators and advice."""
    lines = [f"{r['model']} v{r.get('version')} ({r['stage']}, {r['mode']} mode, as of {_date(r['as_of'])}): "
             f"{r['status']}",
             f"  subjects: {r['positives']} reached the goal, {r['negatives']} did not; {r['features']} indicators"]
    m = r.get("metrics")
    if m:
        cands = ", ".join(f"{n} {c['roc_auc']:.3f}" for n, c in m["candidates"].items())
        cal = m["calibration"]
        lines += [f"  cross-validated ({m['folds']}-fold) ROC AUC {m['roc_auc']:.3f}, PR AUC {m['pr_auc']:.3f} "
                  f"(base rate {m['base_rate']:.1%}); chosen: {m['algorithm']} (candidates: {cands})",
                  f"  calibration ({m['calibration_method']}): Brier {cal['brier']:.4f}, expected calibration error "
                  f"{cal['expected_calibration_error']:.4f}; lowest decile predicted {_pct(cal['deciles'][0]['predicted'])}"
                  f" / observed {_pct(cal['deciles'][0]['observed'])}, highest predicted "
                  f"{_pct(cal['deciles'][-1]['predicted'])} / observed {_pct(cal['deciles'][-1]['observed'])}",
                  *_time_aware_lines(m),
                  f"  scored {r['scored']} subjects not at the goal: " +
                  ", ".join(f"{k}: {v}" for k, v in r["score_buckets"].items())]
    lines.append("  top indicators:")
    lines += [f"    {i['label']:6s} {i['sign'] or ' '} lift {i['lift']:5.2f}  {i['summary'] or i['name']}"
              for i in r["indicators"][:10]]
    if r.get("advice"):
        lines.append("  recommendations:")
        lines += [f"    [{a['severity']}] {a['message']}" for a in r["advice"]]
    return "\n".join(lines)


def _time_aware_lines(m: dict) -> list[str]:
    """The validation that chose the model, and per validated period its ROC AUC and calibration."""
    lines = [f"  chosen by {m.get('selected_by', 'shuffled cross-validated ROC AUC')}"]
    if m.get("validation_note"):
        lines.append(f"  note: {m['validation_note']}")
    t = m.get("time_aware")
    if t:
        cands = ", ".join(f"{n} {c['time_aware_roc_auc']:.3f}" for n, c in m["candidates"].items())
        lines.append(f"  {t['kind']} ROC AUC {t['roc_auc']:.3f} (candidates: {cands}); per period:")
        lines += [f"    {_date(p['from'])} to {_date(p['to'])}: {p['n']} subjects (trained on {p['trained_on']}), "
                  f"ROC AUC {p['roc_auc']:.3f}, predicted {_pct(p['predicted'])} / observed {_pct(p['observed'])}, "
                  f"Brier {p['brier']:.4f}, calibration error {p['expected_calibration_error']:.4f}"
                  for p in t["periods"]]
    return lines


def format_indicators(r: dict, limit: int = 25) -> str:
    lines = [f"{r['model']} v{r.get('version')}: {len(r['indicators'])} indicators, by lift"]
    for i in r["indicators"][:limit]:
        lines.append(f"  {i['name']:45s} {i['label']:6s} {i['sign'] or ' '} lift {i['lift']:6.2f}  "
                     f"missing {i['missing_share']:.0%}")
    if r.get("excluded") or r.get("excluded_by_command"):
        lines.append(f"  excluded: {', '.join(r.get('excluded', []))}")
    return "\n".join(lines)


def format_breakdown(r: dict, name: str) -> str:
    """Per value or bin of one indicator: share of converted and of not-converted subjects."""
    found = {i["name"]: i for i in r["indicators"]}
    key = name.strip().lower().replace(" ", "_")
    if key not in found:
        hint = did_you_mean(key, found)
        return f"no indicator {name!r}" + (f" (did you mean {hint!r}?)" if hint else "")
    ind = found[key]
    lines = [f"{ind['name']}: {ind['label']} {ind['sign']} (lift {ind['lift']:.2f})",
             f"  {'value':28s} {'converted':>10s} {'not conv.':>10s} {'conversion':>11s} {'lift':>6s}"]
    for row in ind["breakdown"]:
        lines.append(f"  {str(row['value'])[:28]:28s} {row['converted_share']:>10.1%} "
                     f"{row['not_converted_share']:>10.1%} {row['conversion']:>11.1%} {row['lift']:>6.2f}")
    return "\n".join(lines)


def format_backtest(out: dict) -> str:
    lines = [f"backtest of {out['model']} against goal '{out['goal']}': {_date(out['from'])} to {_date(out['to'])}, "
             f"every {out['step_days']:g} days, window {out['window_days']:g} days, {out['reps']} rep(s)"]
    for label, r in out["results"].items():
        t = r["threshold"]
        lines += [f"[{label}] {r['samples']} samples ({r['subjects']} people x {r['dates']} dates), "
                  f"{r['converted']} converted ({_pct(r['base_conversion'])})"]
        lines += [f"  score {b['bucket']:7s} {b['subjects']:7d} people, {_pct(b['conversion'])} converted"
                  for b in r["buckets"]]
        lift = "–" if t["lift"] is None else f"{t['lift']:.2f}x"
        lines.append(f"  threshold {t['threshold']:g}: PQLs convert {_pct(t['pql_conversion'])} vs non-PQLs "
                     f"{_pct(t['non_pql_conversion'])} = {lift} (guide: 3-5x); precision {_pct(t['precision'])}, "
                     f"recall {_pct(t['recall'])}; {t['pqls_per_rep_per_week']} new PQLs per rep per week")
        s = r.get("suggestion")
        if s:
            lines.append(f"  suggested threshold {s['threshold']}: lift {s['lift']}x, "
                         f"{s['pqls_per_rep_per_week']} PQLs/rep/week ({s['reason']})")
    lines += [f"note: {n}" for n in out.get("notes", [])]
    return "\n".join(lines)
