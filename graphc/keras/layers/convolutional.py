"""keras.layers.convolutional (the Keras 2 module path): convolutions and their Keras 2 neighbours."""

from graphc.frontend.layers import (
    AveragePooling1D,
    AveragePooling2D,
    Conv1D,
    Conv2D,
    Conv2DTranspose,
    Convolution1D,
    Convolution2D,
    Cropping2D,
    DepthwiseConv2D,
    MaxPooling1D,
    MaxPooling2D,
    SeparableConv2D,
    UpSampling2D,
    ZeroPadding2D,
)

__all__ = [
    "AveragePooling1D",
    "AveragePooling2D",
    "Conv1D",
    "Conv2D",
    "Conv2DTranspose",
    "Convolution1D",
    "Convolution2D",
    "Cropping2D",
    "DepthwiseConv2D",
    "MaxPooling1D",
    "MaxPooling2D",
    "SeparableConv2D",
    "UpSampling2D",
    "ZeroPadding2D",
]
