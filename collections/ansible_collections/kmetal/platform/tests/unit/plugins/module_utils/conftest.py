# -*- coding: utf-8 -*-
"""Put .../collections on sys.path so that ansible_collections.kmetal.platform imports from the tree."""

from __future__ import annotations

import sys
from pathlib import Path

COLLECTIONS = str(Path(__file__).resolve().parents[7])
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
