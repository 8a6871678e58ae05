"""Dataset preparation: the manifest format (:mod:`.manifest`) and one adapter per dataset family
(:mod:`.adapters`, listed in :mod:`.registry`)."""
