"""Using a trained IIAE on one's own images: translate.py, encode.py and export.py are built from these.

Everything runs in model.eval() under torch.no_grad(): BatchNorm normalises with its running
averages, so an image's codes and translations are the same alone or in a batch of others.
"""
