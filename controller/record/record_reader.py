"""Compatibility shim: the session record reader is the inception package's
(python/inception/record.py); this keeps `from record_reader import read_records`
working for scripts that put controller/ on sys.path.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

from inception.record import (HEADER, MAGIC, TYPES, parse_fields,  # noqa: E402,F401
                              read_records)
