"""EuroSAT RGB (10 land-use classes of Sentinel-2 tiles)."""

from dassl.data.datasets import DATASET_REGISTRY

from .base import CoOpDataset
from .splits import read_and_split_data

# Folder name -> the descriptive class name used in prompts.
NEW_CNAMES = {
    "AnnualCrop": "Annual Crop Land",
    "Forest": "Forest",
    "HerbaceousVegetation": "Herbaceous Vegetation Land",
    "Highway": "Highway or Road",
    "Industrial": "Industrial Buildings",
    "Pasture": "Pasture Land",
    "PermanentCrop": "Permanent Crop Land",
    "Residential": "Residential Buildings",
    "River": "River",
    "SeaLake": "Sea or Lake",
}


@DATASET_REGISTRY.register()
class EuroSAT(CoOpDataset):
    dataset_dir = "eurosat"
    image_subdir = "2750"

    def generate_split(self):
        return read_and_split_data(self.image_dir, new_cnames=NEW_CNAMES)
