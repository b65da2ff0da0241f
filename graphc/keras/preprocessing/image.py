"""keras.preprocessing.image"""

from graphc.frontend.image_files import array_to_img, img_to_array, load_img, save_img
from graphc.frontend.image_generator import DirectoryIterator, ImageDataGenerator, NumpyArrayIterator

__all__ = ["DirectoryIterator", "ImageDataGenerator", "NumpyArrayIterator", "array_to_img", "img_to_array",
           "load_img", "save_img"]
