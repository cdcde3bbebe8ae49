# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a backup run reports, and who runs it.

It owns the Prometheus metrics and failure notification of a run, their delivery
(deliver.py: textfile, Pushgateway, webhook, mail), and the run owner and lease checks.

It may import the root modules (errors, local_files) and no other package; it works on
the data the other layers return.

This package is PRIVATE to the statesafe.backup collection: its names and signatures can
change in any release. Do not import it from other collections or from your own plugins;
use the collection's modules and filters instead.
"""
