"""Optional bridges to other attribution libraries (each behind an extra): `heta.integrations.inseq` (pip install "heta[inseq]")."""
