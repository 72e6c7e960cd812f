"""What each synthetic seed is for: the one home of the synthetic world's split.

=================  =========  ==========================================================
``TRAINING``       0-99       drives to train on (the recipe uses 0-73; 24-25 validate
                              each stage's loss)
``VALIDATION``     100-299    never trained on: choosing between trained models
                              (``benchmarks/bench_accuracy.py --split validation``)
``EVALUATION``     300-999    reserved for evaluation: never trained on, never chosen on
=================  =========  ==========================================================

A model chosen by its figures on the evaluation drives would carry their luck into the
reported figures; choosing on the validation drives keeps those honest.
"""

TRAINING_SEEDS = range(0, 100)
VALIDATION_SEEDS = range(100, 300)
EVALUATION_SEEDS = range(300, 1000)
SPLITS = {"validation": VALIDATION_SEEDS, "evaluation": EVALUATION_SEEDS}
