"""The seed's applications beside the decoder-only LLMs: machine translation, speech, GANs.

* :mod:`.encdec` -- an encoder-decoder Transformer (Vaswani et al. 2017), with cross-attention;
* :mod:`.conformer` -- a Conformer speech encoder (Gulati et al. 2020) with its RNN-T decoder,
  convolution blocks included;
* :mod:`.dcgan` -- a DCGAN (Radford et al. 2016) generator and discriminator trained
  alternately;
* :mod:`.build` -- their :class:`~simulator.workload.profile.LayerProfile` and, for the GAN, a
  two-phase step (two models, two gradient synchronisations a step).

Each spec counts parameters and forward FLOPs (2 FLOPs per multiply-add, as Narayanan et al.
2021 count) from the published architecture; ``tests/test_apps.py`` checks the counts against
the published model sizes.
"""
