"""The findings contract: findings, decision evaluations, skipped analyses."""

from .model import (
    Cause,
    DecisionEvaluation,
    Finding,
    Recommendation,
    Skipped,
    clean,
    finding_id,
    merge_parts,
    schema,
    validate_document,
)

__all__ = ["Cause", "DecisionEvaluation", "Finding", "Recommendation", "Skipped", "clean", "finding_id", "merge_parts", "schema",
           "validate_document"]
