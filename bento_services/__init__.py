"""Online serving: BentoML services over registered model versions (built on ``registry``)."""
