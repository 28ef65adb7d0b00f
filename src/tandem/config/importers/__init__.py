"""Importers: cell configurations written from other cluster stacks' files.

`rhcs`: a Red Hat Cluster Suite cluster.conf (`tandem config import-rhcs`). An importer
returns the cell and one note per thing it could not carry over or changed, and never
guesses what the source does not say (addresses, secrets): those become values for the
operator to fill in.
"""
