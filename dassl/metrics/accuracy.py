"""Top-k accuracy."""

__all__ = ["compute_accuracy"]


def compute_accuracy(output, target, topk=(1,)):
    """Top-k accuracies (percent) of ``output`` [B, C] against ``target`` [B].

    Returns a list with one 1-element tensor per k; a tuple/list ``output``
    uses its first element.
    """
    if isinstance(output, (tuple, list)):
        output = output[0]
    maxk = max(topk)
    batch_size = target.size(0)
    _, pred = output.topk(maxk, 1, True, True)
    correct = pred.t().eq(target.view(1, -1).expand_as(pred.t()))
    res = []
    for k in topk:
        correct_k = correct[:k].reshape(-1).float().sum(0, keepdim=True)
        res.append(correct_k.mul_(100.0 / batch_size))
    return res
