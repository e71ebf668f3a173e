"""Evaluation through ir_measures (trec_eval-exact), significance tests and reports."""
