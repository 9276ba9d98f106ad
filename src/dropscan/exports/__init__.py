"""Findings and signatures in other tools' languages.

* `indicators`: destinations aggregated into indicators of compromise (pure, no extra needed),
  written as `stix` 2.1 bundles and `misp` events (the ``intel`` extra), or `text` (txt, csv);
* `ecs`: one Elastic Common Schema document per finding (``scan -f ecs``);
* `sigma_export`: the signature pack as Sigma rules (``signatures export --sigma``, the ``sigma``
  extra).

Each module only reads findings, signatures and reports; nothing here feeds back into detection.
"""
