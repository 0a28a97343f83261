"""samplersearch_py: use samplersearch's searched samplers in your own PyTorch code.

Pure Python over torch and numpy (h5py only to read .h5 files): load a matrix file
(samplersearch's JSON or HDF5, NaturalDiffusion's .npz, the papers' table) and sample with it
through k-diffusion's calling convention, a ``model(x, t)`` network, or a diffusers-style
scheduler. The package is named ``samplersearch_py`` so that it never shadows a compiled
``samplersearch`` module (the C++ library's name); it depends on nothing from the C++ build.
"""

from .io import (load, load_hdf5, load_json, load_npz, load_table, matrices_from_dict,
                 matrices_to_dict, save_json, save_npz)
from .matrices import SIGMA_LIST_NOTE, Matrices
from .sampling import network_time, run_matrices, sample_matrices, sample_model, to_x0
from .scheduler import MatrixScheduler, SchedulerOutput
from .schedules import SCHEDULES, Schedule, make_schedule, timesteps

__version__ = "0.1.0"

__all__ = ["Matrices", "MatrixScheduler", "SCHEDULES", "SIGMA_LIST_NOTE", "Schedule",
           "SchedulerOutput", "load", "load_hdf5", "load_json", "load_npz", "load_table",
           "make_schedule", "matrices_from_dict", "matrices_to_dict", "network_time",
           "run_matrices", "sample_matrices", "sample_model", "save_json", "save_npz",
           "timesteps", "to_x0"]
