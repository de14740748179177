"""The expression values of face/src/expressions.c in numpy, for the training scripts.

Only the values the accuracy targets of docs/accuracy.md#expressions look at:
mouth_open (the inner-lip gap over the mouth width) and the eyes' closedness (eye
aspect ratio), with the state a face held still at that value settles in
(fkp_expression_state_at_rest).  Constants as in expressions.c; test-expressions
checks the C side against the labelled points, tests/training checks nothing here,
so keep the two in step by hand.
"""
import numpy as np

MOUTH_OPEN_SPAN = 0.5
EYE_OPEN_RATIO = 0.30
EYE_RATIO_SPAN = 0.25
# default baseline + on threshold (expressions.c's table)
MOUTH_OPEN_AT_REST = 0.10 + 0.30
EYES_CLOSED_AT_REST = 0.15 + 0.45


def _ramp(raw, zero, span):
    v = (raw - zero) / span
    return np.clip(np.nan_to_num(v, nan=0.0), 0.0, 1.0)


def _dist(p, a, b):
    return np.linalg.norm(p[..., a, :] - p[..., b, :], axis=-1)


def mouth_ratio(p):
    """Inner-lip gap (mean of 61-67, 62-66, 63-65) over the mouth width (48-54); p [..., 68, 2]."""
    gap = (_dist(p, 61, 67) + _dist(p, 62, 66) + _dist(p, 63, 65)) / 3.0
    return gap / _dist(p, 48, 54)


def mouth_open(p):
    return _ramp(mouth_ratio(p), 0.0, MOUTH_OPEN_SPAN)


def eye_aspect(p, first):
    return (_dist(p, first + 1, first + 5) + _dist(p, first + 2, first + 4)) / (
        2.0 * _dist(p, first, first + 3))


def eye_closed(p, first):
    return _ramp(EYE_OPEN_RATIO - eye_aspect(p, first), 0.0, EYE_RATIO_SPAN)


def eyes_closed(p):
    return np.minimum(eye_closed(p, 36), eye_closed(p, 42))


def spearman(a, b):
    """Spearman's rho with average ranks for ties."""
    def ranks(v):
        order = np.argsort(v, kind="mergesort")
        r = np.empty(len(v))
        sv = v[order]
        i = 0
        while i < len(v):
            j = i
            while j + 1 < len(v) and sv[j + 1] == sv[i]:
                j += 1
            r[order[i:j + 1]] = 0.5 * (i + j)
            i = j + 1
        return r
    ra, rb = ranks(np.asarray(a, np.float64)), ranks(np.asarray(b, np.float64))
    return float(np.corrcoef(ra, rb)[0, 1])


def confusion(true_state, pred_state):
    """(TP, FN, FP, TN, balanced accuracy)."""
    t, p = np.asarray(true_state, bool), np.asarray(pred_state, bool)
    tp, fn = int((t & p).sum()), int((t & ~p).sum())
    fp, tn = int((~t & p).sum()), int((~t & ~p).sum())
    tpr = tp / (tp + fn) if tp + fn else float("nan")
    tnr = tn / (tn + fp) if tn + fp else float("nan")
    return tp, fn, fp, tn, 0.5 * (tpr + tnr)
