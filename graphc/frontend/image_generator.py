"""keras.preprocessing.image.ImageDataGenerator: random augmentation, standardization, and the
iterators `flow` and `flow_from_directory` that fit/evaluate/predict read batch by batch.

The draws, their order and the per-image pipeline follow Keras (KERAS_REFERENCE_LAYERS.md 8): the
random transform (rotation, shifts, shear, zoom, flips, channel and brightness shifts) then
`standardize` (preprocessing_function, rescale, samplewise then featurewise statistics, ZCA). As in
Keras the draws use numpy's global random state, which `seed` arguments seed. The iterators are
Sequences (len, index) that also cycle forever with next(), so both Keras 2's fit_generator and
Keras 3's fit read them.
"""

from __future__ import annotations

import os
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from graphc.frontend.image_files import img_to_array, load_img, save_img
from graphc.frontend.image_transforms import (
    FILL_MODES,
    apply_affine_transform,
    apply_brightness_shift,
    apply_channel_shift,
    flip,
    transform_matrix,
)
from graphc.frontend.layers.image_format import resolve

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff")
CLASS_MODES = ("categorical", "binary", "sparse", "input", None)


class ImageDataGenerator:
    """Keras's constructor arguments and defaults; see the module docstring for the pipeline."""

    def __init__(
        self,
        featurewise_center: bool = False,
        samplewise_center: bool = False,
        featurewise_std_normalization: bool = False,
        samplewise_std_normalization: bool = False,
        zca_whitening: bool = False,
        zca_epsilon: float = 1e-6,
        rotation_range: float = 0,
        width_shift_range: Any = 0.0,
        height_shift_range: Any = 0.0,
        brightness_range: Any = None,
        shear_range: float = 0.0,
        zoom_range: Any = 0.0,
        channel_shift_range: float = 0.0,
        fill_mode: str = "nearest",
        cval: float = 0.0,
        horizontal_flip: bool = False,
        vertical_flip: bool = False,
        rescale: float | None = None,
        preprocessing_function: Any = None,
        data_format: str | None = None,
        validation_split: float = 0.0,
        interpolation_order: int = 1,
        dtype: str | None = None,
    ) -> None:
        if fill_mode not in FILL_MODES:
            raise ValueError(f"ImageDataGenerator: fill_mode must be one of {FILL_MODES}, got {fill_mode!r}")
        if interpolation_order != 1:
            raise ValueError("ImageDataGenerator: only interpolation_order=1 (bilinear) is supported")
        if not 0 <= validation_split < 1:
            raise ValueError(
                f"ImageDataGenerator: validation_split must be in [0, 1), got {validation_split}"
            )
        if isinstance(zoom_range, (int, float)):
            zoom_range = (1 - zoom_range, 1 + zoom_range)
        zoom_range = tuple(zoom_range)
        if len(zoom_range) != 2:
            raise ValueError(
                f"ImageDataGenerator: zoom_range must be a float or two floats, got {zoom_range}"
            )
        if brightness_range is not None and len(tuple(brightness_range)) != 2:
            raise ValueError(
                f"ImageDataGenerator: brightness_range must be two floats, got {brightness_range}"
            )
        if zca_whitening and (not featurewise_center or featurewise_std_normalization):
            warnings.warn(
                "ImageDataGenerator: zca_whitening overrides featurewise_center=True and "
                "featurewise_std_normalization=False",
                UserWarning,
                stacklevel=2,
            )
            featurewise_center, featurewise_std_normalization = True, False
        if featurewise_std_normalization and not featurewise_center:
            warnings.warn(
                "ImageDataGenerator: featurewise_std_normalization overrides featurewise_center=True",
                UserWarning,
                stacklevel=2,
            )
            featurewise_center = True
        if samplewise_std_normalization and not samplewise_center:
            warnings.warn(
                "ImageDataGenerator: samplewise_std_normalization overrides samplewise_center=True",
                UserWarning,
                stacklevel=2,
            )
            samplewise_center = True
        self.featurewise_center = featurewise_center
        self.samplewise_center = samplewise_center
        self.featurewise_std_normalization = featurewise_std_normalization
        self.samplewise_std_normalization = samplewise_std_normalization
        self.zca_whitening = zca_whitening
        self.zca_epsilon = zca_epsilon
        self.rotation_range = rotation_range
        self.width_shift_range = width_shift_range
        self.height_shift_range = height_shift_range
        self.brightness_range = None if brightness_range is None else tuple(brightness_range)
        self.shear_range = shear_range
        self.zoom_range = zoom_range
        self.channel_shift_range = channel_shift_range
        self.fill_mode = fill_mode
        self.cval = cval
        self.horizontal_flip = horizontal_flip
        self.vertical_flip = vertical_flip
        self.rescale = rescale
        self.preprocessing_function = preprocessing_function
        self.data_format = resolve(data_format, "ImageDataGenerator")
        self.channel_axis, self.row_axis, self.col_axis = (
            (3, 1, 2) if self.data_format == "channels_last" else (1, 2, 3)
        )
        self.validation_split = validation_split
        self.dtype = dtype or "float32"
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None
        self.zca_whitening_matrix: np.ndarray | None = None

    # -- per image ------------------------------------------------------------------------------
    def _shift(self, value: Any, length: int) -> float:
        """Keras's shift draw: a float < 1 is a fraction of the side; an int n picks from range(n) with a
        random sign; a list picks one of its values with a random sign."""
        if not value:
            return 0.0
        if isinstance(value, (list, tuple, np.ndarray)):
            shift = float(np.random.choice(value)) * np.random.choice([-1, 1])
        elif isinstance(value, int) and not isinstance(value, bool):
            shift = float(np.random.choice(range(value))) * np.random.choice([-1, 1])
        else:
            shift = float(np.random.uniform(-value, value))
        return shift * length if abs(shift) < 1 else shift

    def get_random_transform(self, img_shape: tuple[int, ...], seed: int | None = None) -> dict[str, Any]:
        """The parameters of one random transform, drawn in Keras's order."""
        if seed is not None:
            np.random.seed(seed)
        row_axis, col_axis = self.row_axis - 1, self.col_axis - 1
        theta = np.random.uniform(-self.rotation_range, self.rotation_range) if self.rotation_range else 0
        tx = self._shift(self.height_shift_range, img_shape[row_axis])
        ty = self._shift(self.width_shift_range, img_shape[col_axis])
        shear = np.random.uniform(-self.shear_range, self.shear_range) if self.shear_range else 0
        if self.zoom_range[0] == 1 and self.zoom_range[1] == 1:
            zx = zy = 1.0
        else:
            zx, zy = np.random.uniform(self.zoom_range[0], self.zoom_range[1], 2)
        flip_horizontal = bool((np.random.random() < 0.5) * self.horizontal_flip)
        flip_vertical = bool((np.random.random() < 0.5) * self.vertical_flip)
        channel_shift = (
            np.random.uniform(-self.channel_shift_range, self.channel_shift_range)
            if self.channel_shift_range
            else None
        )
        brightness = np.random.uniform(*self.brightness_range) if self.brightness_range else None
        return {
            "theta": theta,
            "tx": tx,
            "ty": ty,
            "shear": shear,
            "zx": zx,
            "zy": zy,
            "flip_horizontal": flip_horizontal,
            "flip_vertical": flip_vertical,
            "channel_shift_intensity": channel_shift,
            "brightness": brightness,
        }

    def apply_transform(self, x: np.ndarray, params: dict[str, Any]) -> np.ndarray:
        """One image (3-D, no batch axis) through the transform `params` describe."""
        row_axis, col_axis, channel_axis = self.row_axis - 1, self.col_axis - 1, self.channel_axis - 1
        matrix = transform_matrix(
            params.get("theta", 0),
            params.get("tx", 0),
            params.get("ty", 0),
            params.get("shear", 0),
            params.get("zx", 1),
            params.get("zy", 1),
        )
        if matrix is not None:
            x = apply_affine_transform(x, matrix, row_axis, col_axis, channel_axis, self.fill_mode, self.cval)
        if params.get("channel_shift_intensity") is not None:
            x = apply_channel_shift(x, params["channel_shift_intensity"], channel_axis)
        if params.get("flip_horizontal"):
            x = flip(x, col_axis)
        if params.get("flip_vertical"):
            x = flip(x, row_axis)
        if params.get("brightness") is not None:
            x = apply_brightness_shift(x, params["brightness"])
        return x

    def random_transform(self, x: np.ndarray, seed: int | None = None) -> np.ndarray:
        return self.apply_transform(x, self.get_random_transform(x.shape, seed))

    def standardize(self, x: np.ndarray) -> np.ndarray:
        """preprocessing_function, rescale, samplewise, featurewise, ZCA: in Keras's order."""
        if self.preprocessing_function is not None:
            x = self.preprocessing_function(x)
        if self.rescale:
            x = x * self.rescale
        if self.samplewise_center:
            x = x - np.mean(x, keepdims=True)
        if self.samplewise_std_normalization:
            x = x / (np.std(x, keepdims=True) + 1e-6)
        if self.featurewise_center:
            if self.mean is None:
                warnings.warn(
                    "ImageDataGenerator specifies featurewise_center but was not fit on any data; "
                    "call .fit(numpy_data) first",
                    UserWarning,
                    stacklevel=2,
                )
            else:
                x = x - self.mean
        if self.featurewise_std_normalization:
            if self.std is None:
                warnings.warn(
                    "ImageDataGenerator specifies featurewise_std_normalization but was not fit on "
                    "any data; call .fit(numpy_data) first",
                    UserWarning,
                    stacklevel=2,
                )
            else:
                x = x / (self.std + 1e-6)
        if self.zca_whitening:
            if self.zca_whitening_matrix is None:
                warnings.warn(
                    "ImageDataGenerator specifies zca_whitening but was not fit on any data; "
                    "call .fit(numpy_data) first",
                    UserWarning,
                    stacklevel=2,
                )
            else:
                x = np.reshape(
                    np.reshape(x, (-1, np.prod(x.shape[-3:]))) @ self.zca_whitening_matrix, x.shape
                )
        return x

    # -- fitting the statistics -----------------------------------------------------------------
    def fit(self, x: Any, augment: bool = False, rounds: int = 1, seed: int | None = None) -> None:
        """The per-channel mean and std (after rescale) and the ZCA matrix of x (N, H, W, C)."""
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim != 4:
            raise ValueError(
                f"ImageDataGenerator.fit: expected rank-4 data (N, H, W, C), got shape {x.shape}"
            )
        if x.shape[self.channel_axis] not in (1, 3, 4):
            warnings.warn(
                f"ImageDataGenerator.fit: data has {x.shape[self.channel_axis]} channels on axis "
                f"{self.channel_axis} ({self.data_format}); expected 1, 3 or 4",
                UserWarning,
                stacklevel=2,
            )
        if seed is not None:
            np.random.seed(seed)
        x = np.copy(x)
        if self.rescale:
            x *= self.rescale
        if augment:
            x = np.stack([self.random_transform(image) for _ in range(rounds) for image in x])
        axes = (0, self.row_axis, self.col_axis)
        shape = [1, 1, 1]
        shape[self.channel_axis - 1] = x.shape[self.channel_axis]
        if self.featurewise_center:
            self.mean = np.reshape(np.mean(x, axis=axes), shape).astype(self.dtype)
            x = x - self.mean
        if self.featurewise_std_normalization:
            self.std = np.reshape(np.std(x, axis=axes), shape).astype(self.dtype)
            x = x / (self.std + 1e-6)
        if self.zca_whitening:
            flat = np.reshape(x, (x.shape[0], -1)).astype(np.float64)
            u, s, _ = np.linalg.svd(flat.T, full_matrices=False)
            scale = np.sqrt(flat.shape[0]) / (s + self.zca_epsilon)
            self.zca_whitening_matrix = ((u * scale) @ u.T).astype(self.dtype)

    # -- iterators ------------------------------------------------------------------------------
    def flow(
        self,
        x: Any,
        y: Any = None,
        batch_size: int = 32,
        shuffle: bool = True,
        sample_weight: Any = None,
        seed: int | None = None,
        save_to_dir: str | None = None,
        save_prefix: str = "",
        save_format: str = "png",
        ignore_class_split: bool = False,
        subset: str | None = None,
    ) -> NumpyArrayIterator:
        if sample_weight is not None:
            raise ValueError("ImageDataGenerator.flow: sample_weight is not supported yet")
        return NumpyArrayIterator(
            x, y, self, batch_size, shuffle, seed, save_to_dir, save_prefix, save_format, subset
        )

    def flow_from_directory(
        self,
        directory: str | os.PathLike[str],
        target_size: tuple[int, int] = (256, 256),
        color_mode: str = "rgb",
        classes: list[str] | None = None,
        class_mode: str | None = "categorical",
        batch_size: int = 32,
        shuffle: bool = True,
        seed: int | None = None,
        save_to_dir: str | None = None,
        save_prefix: str = "",
        save_format: str = "png",
        follow_links: bool = False,
        subset: str | None = None,
        interpolation: str = "nearest",
        keep_aspect_ratio: bool = False,
    ) -> DirectoryIterator:
        return DirectoryIterator(
            directory,
            self,
            target_size,
            color_mode,
            classes,
            class_mode,
            batch_size,
            shuffle,
            seed,
            save_to_dir,
            save_prefix,
            save_format,
            follow_links,
            subset,
            interpolation,
            keep_aspect_ratio,
        )


class ImageIterator:
    """Batches of `n` samples in a fresh order each pass: a Sequence (len, index) that also cycles
    forever through next()."""

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int | None) -> None:
        if n < 1:
            raise ValueError("ImageDataGenerator: no samples to iterate over")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"ImageDataGenerator: batch_size must be a positive int, got {batch_size!r}")
        self.n, self.batch_size, self.shuffle, self.seed = n, batch_size, shuffle, seed
        self.batch_index = 0
        self.total_batches_seen = 0
        self.index_array: np.ndarray | None = None
        self._lock = threading.Lock()

    def _set_index_array(self) -> None:
        self.index_array = np.random.permutation(self.n) if self.shuffle else np.arange(self.n)

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def __getitem__(self, index: int) -> Any:
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range: this iterator has {len(self)} batches")
        with self._lock:
            if self.seed is not None:
                np.random.seed(self.seed + self.total_batches_seen)
            self.total_batches_seen += 1
            if self.index_array is None:
                self._set_index_array()
            assert self.index_array is not None
            chosen = self.index_array[self.batch_size * index : self.batch_size * (index + 1)]
            return self._batch(chosen)

    def on_epoch_end(self) -> None:
        self._set_index_array()

    def reset(self) -> None:
        self.batch_index = 0

    def __iter__(self) -> ImageIterator:
        return self

    def __next__(self) -> Any:
        """Keras's order: seed (seed + batches seen), a new permutation at the start of each pass."""
        with self._lock:
            if self.seed is not None:
                np.random.seed(self.seed + self.total_batches_seen)
            if self.batch_index == 0 or self.index_array is None:
                self._set_index_array()
            assert self.index_array is not None
            index = self.batch_index
            self.batch_index = (index + 1) % len(self)
            self.total_batches_seen += 1
            chosen = self.index_array[self.batch_size * index : self.batch_size * (index + 1)]
        return self._batch(chosen)

    def _batch(self, chosen: np.ndarray) -> Any:
        raise NotImplementedError

    def _augment(
        self,
        generator: ImageDataGenerator,
        images: list[np.ndarray],
        chosen: np.ndarray,
        save: tuple[str | None, str, str],
    ) -> np.ndarray:
        out = np.stack(
            [
                generator.standardize(generator.random_transform(image.astype(generator.dtype)))
                for image in images
            ]
        ).astype(generator.dtype)
        folder, prefix, file_format = save
        if folder is not None:
            for k, (image, index) in enumerate(zip(out, chosen, strict=True)):
                name = f"{prefix}_{index}_{np.random.randint(10_000)}_{k}.{file_format}"
                save_img(Path(folder) / name, image, generator.data_format)
        return out


def _subset(n: int, split: float, subset: str | None) -> slice:
    if subset is None:
        return slice(0, n)
    if subset not in ("training", "validation"):
        raise ValueError(f"subset must be 'training' or 'validation', got {subset!r}")
    cut = int(n * split)
    return slice(0, cut) if subset == "validation" else slice(cut, n)


class NumpyArrayIterator(ImageIterator):
    """`flow`: batches of (x, y) (or x) from arrays; x returned as float32, y in its own dtype."""

    def __init__(
        self,
        x: Any,
        y: Any,
        generator: ImageDataGenerator,
        batch_size: int,
        shuffle: bool,
        seed: int | None,
        save_to_dir: str | None,
        save_prefix: str,
        save_format: str,
        subset: str | None,
    ) -> None:
        x = np.asarray(x)
        if x.ndim != 4:
            raise ValueError(
                f"ImageDataGenerator.flow: x should have rank 4 (N, H, W, C), got shape {x.shape}"
            )
        y_array = None if y is None else np.asarray(y)
        if y_array is not None and len(y_array) != len(x):
            raise ValueError(
                f"ImageDataGenerator.flow: x and y should have the same length; got {len(x)} and "
                f"{len(y_array)}"
            )
        part = _subset(len(x), generator.validation_split, subset)
        self.x = x[part]
        self.y = None if y_array is None else y_array[part]
        self.generator = generator
        self.save = (save_to_dir, save_prefix, save_format)
        super().__init__(len(self.x), batch_size, shuffle, seed)

    def _batch(self, chosen: np.ndarray) -> Any:
        images = self._augment(self.generator, [self.x[i] for i in chosen], chosen, self.save)
        return images if self.y is None else (images, self.y[chosen])


class DirectoryIterator(ImageIterator):
    """`flow_from_directory`: one class per subdirectory (sorted), images read with Pillow."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        generator: ImageDataGenerator,
        target_size: tuple[int, int],
        color_mode: str,
        classes: list[str] | None,
        class_mode: str | None,
        batch_size: int,
        shuffle: bool,
        seed: int | None,
        save_to_dir: str | None,
        save_prefix: str,
        save_format: str,
        follow_links: bool,
        subset: str | None,
        interpolation: str,
        keep_aspect_ratio: bool,
    ) -> None:
        if class_mode not in CLASS_MODES:
            raise ValueError(
                f"flow_from_directory: class_mode must be one of {CLASS_MODES}, got {class_mode!r}"
            )
        root = Path(directory)
        if not root.is_dir():
            raise FileNotFoundError(f"flow_from_directory: no directory {root}")
        if classes is None:
            classes = sorted(p.name for p in root.iterdir() if p.is_dir())
        self.class_indices = {name: i for i, name in enumerate(classes)}
        self.filenames: list[str] = []
        labels = []
        for name in classes:
            found = sorted(_images_under(root / name, follow_links))
            part = _subset(len(found), generator.validation_split, subset)
            for path in found[part]:
                self.filenames.append(str(path.relative_to(root)))
                labels.append(self.class_indices[name])
        self.classes = np.asarray(labels, dtype=np.int32)
        self.directory = root
        self.generator = generator
        self.target_size = tuple(target_size)
        self.color_mode = color_mode
        self.class_mode = class_mode
        self.interpolation = interpolation
        self.keep_aspect_ratio = keep_aspect_ratio
        self.save = (save_to_dir, save_prefix, save_format)
        print(f"Found {len(self.filenames)} images belonging to {len(classes)} classes.")
        super().__init__(max(len(self.filenames), 1), batch_size, shuffle, seed)
        self.n = len(self.filenames)

    def _batch(self, chosen: np.ndarray) -> Any:
        images = []
        for index in chosen:
            image = load_img(
                self.directory / self.filenames[index],
                color_mode=self.color_mode,
                target_size=self.target_size,
                interpolation=self.interpolation,
                keep_aspect_ratio=self.keep_aspect_ratio,
            )
            images.append(img_to_array(image, self.generator.data_format))
        x = self._augment(self.generator, images, chosen, self.save)
        labels = self.classes[chosen]
        if self.class_mode == "input":
            return x, x.copy()
        if self.class_mode is None:
            return x
        if self.class_mode == "categorical":
            return x, np.eye(len(self.class_indices), dtype=np.float32)[labels]
        return x, labels.astype(np.float32)


def _images_under(folder: Path, follow_links: bool) -> list[Path]:
    found = []
    for current, subdirs, files in os.walk(folder, followlinks=follow_links):
        subdirs.sort()
        found += [Path(current) / f for f in sorted(files) if f.lower().endswith(IMAGE_SUFFIXES)]
    return found
