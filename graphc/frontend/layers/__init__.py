"""Keras layers."""

from graphc.frontend.layers.activation_layers import ELU, PReLU, ReLU, Softmax, ThresholdedReLU
from graphc.frontend.layers.base import CallContext, KerasTensor, Layer, Weight
from graphc.frontend.layers.cells import RNN, GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells
from graphc.frontend.layers.convolutional import Conv1D, Conv2D, Convolution1D, Convolution2D
from graphc.frontend.layers.core import Activation, Dense, Dropout, Flatten, LeakyReLU, Masking
from graphc.frontend.layers.depthwise import Conv2DTranspose, DepthwiseConv2D, SeparableConv2D
from graphc.frontend.layers.embedding import Embedding
from graphc.frontend.layers.input_layer import Input, InputLayer
from graphc.frontend.layers.lambda_layer import Lambda
from graphc.frontend.layers.merging import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    dot,
    maximum,
    minimum,
    multiply,
    subtract,
)
from graphc.frontend.layers.noise import AlphaDropout, GaussianDropout, GaussianNoise
from graphc.frontend.layers.normalization import BatchNormalization, LayerNormalization
from graphc.frontend.layers.operation import TensorOperation
from graphc.frontend.layers.pooling import (
    ALIASES as POOLING_ALIASES,
)
from graphc.frontend.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPooling1D,
    MaxPooling2D,
)
from graphc.frontend.layers.preprocessing import Normalization, Rescaling
from graphc.frontend.layers.recurrent import GRU, LSTM, SimpleRNN
from graphc.frontend.layers.reshaping import (
    Cropping2D,
    Permute,
    RepeatVector,
    Reshape,
    SpatialDropout2D,
    UpSampling2D,
    ZeroPadding2D,
)
from graphc.frontend.layers.wrappers import Bidirectional, TimeDistributed

LAYER_CLASSES: dict[str, type[Layer]] = (
    {
        cls.__name__: cls
        for cls in (
            Activation,
            AveragePooling1D,
            AveragePooling2D,
            BatchNormalization,
            Conv1D,
            Conv2D,
            Convolution1D,
            Convolution2D,
            Conv2DTranspose,
            Cropping2D,
            Dense,
            DepthwiseConv2D,
            Dropout,
            Embedding,
            Flatten,
            GlobalAveragePooling1D,
            GlobalAveragePooling2D,
            GlobalMaxPooling1D,
            GlobalMaxPooling2D,
            InputLayer,
            LeakyReLU,
            MaxPooling1D,
            MaxPooling2D,
            Permute,
            Reshape,
            SeparableConv2D,
            SpatialDropout2D,
            UpSampling2D,
            ZeroPadding2D,
        )
    }
    | {cls.__name__: cls for cls in (Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract)}
    | {cls.__name__: cls for cls in (GRU, LSTM, SimpleRNN, Masking, Bidirectional, TimeDistributed, RNN)}
    | {cls.__name__: cls for cls in (ELU, PReLU, ReLU, Softmax, ThresholdedReLU, Lambda, LayerNormalization,
                                      RepeatVector, TensorOperation, Normalization, Rescaling, AlphaDropout,
                                      GaussianDropout, GaussianNoise)}
    | POOLING_ALIASES
    | {"Convolution2DTranspose": Conv2DTranspose, "SeparableConvolution2D": SeparableConv2D}
)

__all__ = [
    "LAYER_CLASSES",
    "ELU",
    "PReLU",
    "ReLU",
    "Softmax",
    "ThresholdedReLU",
    "Lambda",
    "LayerNormalization",
    "RepeatVector",
    "TensorOperation",
    "Normalization",
    "Rescaling",
    "AlphaDropout",
    "GaussianDropout",
    "GaussianNoise",
    "GRUCell",
    "LSTMCell",
    "RNN",
    "SimpleRNNCell",
    "StackedRNNCells",
    "TimeDistributed",
    "Bidirectional",
    "Masking",
    "GRU",
    "LSTM",
    "SimpleRNN",
    "Add",
    "Average",
    "Concatenate",
    "Dot",
    "Maximum",
    "Minimum",
    "Multiply",
    "Subtract",
    "add",
    "average",
    "concatenate",
    "dot",
    "maximum",
    "minimum",
    "multiply",
    "subtract",
    "Activation",
    "AveragePooling1D",
    "AveragePooling2D",
    "BatchNormalization",
    "CallContext",
    "Conv1D",
    "Conv2DTranspose",
    "DepthwiseConv2D",
    "SeparableConv2D",
    "Conv2D",
    "Convolution1D",
    "Convolution2D",
    "Cropping2D",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "Input",
    "InputLayer",
    "KerasTensor",
    "Layer",
    "LeakyReLU",
    "MaxPooling1D",
    "MaxPooling2D",
    "Permute",
    "Reshape",
    "SpatialDropout2D",
    "UpSampling2D",
    "Weight",
    "ZeroPadding2D",
]
