"""File and folder names that more than one room writes or reads: declared once, here.

A search run directory (``runs/NAME/``)::

    space.yaml  overrides.yaml  study.db  summary.json  trial_*/  export/  report/  .bnas.lock

A one-shot run directory adds ``supernet/`` (its training: ``epoch_NNNN/`` checkpoints, each
with one ``seed_I/`` checkpoint folder per supernet seed; ``history.json``), ``study.journal``
(the Optuna study of the candidate search, instead of ``study.db``), ``candidates.csv``
(every candidate scored with inherited weights), ``warm_start/`` (weights extracted for
warm-started retraining) and ``oneshot.json`` (which phases are done).

A training run folder (``bnas train --out DIR``, a search trial's checkpoint, an export)::

    arch.yaml  config.yaml  summary.json  best/model.safetensors  last/  tb/

A checkpoint folder: ``model.safetensors``, ``best_model.safetensors``,
``optimizer.safetensors``, ``trainer_state.json``. An export folder: ``arch.yaml``,
``model.safetensors``, ``retrain.yaml``, ``MODEL_CARD.md``, ``export.json`` and, with ONNX,
``model.onnx``, ``sample_input.npy``, ``sample_logits.npy``; with OpenVINO, ``model.xml`` and
``model.bin`` (the bit-packed model); ``preprocessing.json`` (what a runtime does to an image
before the model sees it).
"""

# -- a search run directory: STORAGE/NAME, NAME one plain folder name (the YAML's ``name:`` or
# ``bnas search --name``): no separator or leading dot, so it cannot leave STORAGE, and short
# enough for any filesystem (Ray adds its own names below it)
RUN_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
RUN_NAME_MAX_LENGTH = 100
SPACE_FILE = "space.yaml"
OVERRIDES_FILE = "overrides.yaml"
STUDY_FILE = "study.db"
SUMMARY_FILE = "summary.json"
EXPORT_DIR = "export"
REPORT_DIR = "report"
REPORT_FILE = "report.md"
# held (fcntl.flock) by the one bnas command working on the run (bnas.run_lock); it names that
# command's process
LOCK_FILE = ".bnas.lock"
# -- a one-shot search run directory, besides the above
SUPERNET_DIR = "supernet"  # a one-shot search's supernet training (Ray Train's run folder)
SUPERNET_HISTORY_FILE = "history.json"  # in SUPERNET_DIR: every epoch of every worker
SEED_DIR_PREFIX = "seed_"  # SUPERNET_DIR/epoch_NNNN/seed_I: supernet seed I's checkpoint
STUDY_JOURNAL_FILE = "study.journal"
CANDIDATES_FILE = "candidates.csv"
WARM_START_DIR = "warm_start"
ONESHOT_STATE_FILE = "oneshot.json"

# -- a training run folder
ARCH_FILE = "arch.yaml"
CONFIG_FILE = "config.yaml"
BEST_DIR = "best"
LAST_DIR = "last"
TENSORBOARD_DIR = "tb"

# -- a checkpoint folder
MODEL_FILE = "model.safetensors"
BEST_MODEL_FILE = "best_model.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"
STATE_FILE = "trainer_state.json"

# -- an export folder
RECORD_FILE = "export.json"
CARD_FILE = "MODEL_CARD.md"
RETRAIN_FILE = "retrain.yaml"
RETRAIN_OUT = "retrain"
ONNX_FILE = "model.onnx"
SAMPLE_INPUT_FILE = "sample_input.npy"
SAMPLE_LOGITS_FILE = "sample_logits.npy"
OPENVINO_FILE = "model.xml"  # OpenVINO IR; its weights in model.bin beside it
OPENVINO_WEIGHTS_FILE = "model.bin"
PREPROCESSING_FILE = "preprocessing.json"
