"""The clause -> rule corpus: clause extraction from regulation text, the open UK corpus, loaders, splits.

Public surface: `extract_clauses` / `extract_corpus` (text -> clauses with a skip report), `builtin_pairs`
(the shipped open corpus), `load_pairs` (builtin or a user's CSV / JSONL / Parquet, split applied),
`read_pairs_file` (one file, no split), `builtin_clause_texts` (all extracted clause text, unlabelled),
`build_corpus` (rebuild the shipped data file) and `verify_pairs` (run reference rules on their fixtures).
The bundled text is Crown copyright, Open Government Licence v3.0 (uk-approved-documents/NOTICE.md).
"""

from clauselens.corpus.extract import Extraction, extract_clauses, extract_corpus
from clauselens.corpus.load import builtin_clause_texts, builtin_pairs, load_pairs, read_pairs_file
from clauselens.corpus.rulebook import build_corpus
from clauselens.corpus.stage import corpus_run, read_pairs
from clauselens.corpus.verify import verify_pairs

__all__ = [
    "Extraction",
    "build_corpus",
    "builtin_clause_texts",
    "builtin_pairs",
    "corpus_run",
    "extract_clauses",
    "extract_corpus",
    "load_pairs",
    "read_pairs",
    "read_pairs_file",
    "verify_pairs",
]
