"""One-shot search: a weight-sharing supernet over a search space's threshold choices.

Every choice bnas searches lives in the sign sites, so one network can hold a whole space:
each site keeps its static α and one DySign generator at the widest setting the space asks
for, and a candidate runs a leading slice of it (Once-for-All's elastic width). Train it once
with candidates drawn per step (:class:`CandidateSampler`: uniform, or the sandwich rule), then
score any candidate with inherited weights after recalibrating BatchNorm
(:func:`evaluate_candidates`: candidates sharing leading blocks share that computation),
and extract it as a plain network (:meth:`Supernet.extract`).
:func:`train_supernet` does the training with bnas.train's recipe (checkpoints, resume, data
parallel under torch.distributed) and :func:`load_supernet` reads its checkpoint back. By
hand, the loop is::

    from bnas.space import load_space
    from bnas.supernet import CandidateSampler, Supernet

    space = load_space("search_spaces/demo_digits.yaml")
    supernet = Supernet(space)
    sampler = CandidateSampler(space, rule="sandwich", num_random=2, seed=0)
    for step, (images, labels) in enumerate(loader):
        for arch in sampler.candidates(step):
            supernet.set_active(arch)
            loss_fn(supernet(images), labels).backward()
        optimizer.step(); optimizer.zero_grad()
    model = supernet.extract(sampler.smallest)      # a bnas.models network, same outputs

Plain torch: this package imports bnas.architecture, bnas.space, bnas.models, bnas.nn,
bnas.data and bnas.train, never Ray.
"""

from bnas.supernet.elastic import ActiveGenerator, ElasticRPReLU, ElasticSign
from bnas.supernet.evaluation import (
    calibration_batches,
    evaluate_candidate,
    evaluate_candidates,
)
from bnas.supernet.network import Supernet, leading_slice
from bnas.supernet.sampling import SAMPLING_RULES, CandidateSampler
from bnas.supernet.training import SupernetResult, load_supernet, train_supernet

__all__ = [
    "SAMPLING_RULES",
    "ActiveGenerator",
    "CandidateSampler",
    "ElasticRPReLU",
    "ElasticSign",
    "Supernet",
    "SupernetResult",
    "calibration_batches",
    "evaluate_candidate",
    "evaluate_candidates",
    "leading_slice",
    "load_supernet",
    "train_supernet",
]
