"""What every run needs from the machine: the compilation cache (:mod:`.cache`), traced
programs kept on disk (:mod:`.programs`), compiled programs memoised by structure
(:mod:`.compile`) and random streams (:mod:`.keys`)."""

__all__: list[str] = []
