"""Computer-vision pieces the chapter-7 labs share (EE-559 7.1–7.4).

- :mod:`dlc.vision.boxes`: box areas and the IoU matrix, non-maximum suppression,
  matching predictions to true boxes, average precision and mAP at an IoU threshold;
- :mod:`dlc.vision.metrics`: the confusion matrix of a segmentation, pixel accuracy,
  per-class and mean IoU;
- :mod:`dlc.vision.draw`: images with their boxes (class and score) or a mask overlay,
  in one colour per class.

Boxes are ``(x0, y0, x1, y1)`` in pixels with x1, y1 exclusive, as
:func:`dlc.data.shapes.shapes` gives them: a box's width is ``x1 - x0``.
"""
