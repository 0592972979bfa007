"""The rows every measurement uses: each shipped model's own dataset, cycled to N rows,
so the service and every baseline predict exactly the same inputs."""
from sklearn import datasets

from service.models.catalog import read_manifest

DATASETS = {"iris": datasets.load_iris, "breast_cancer": datasets.load_breast_cancer,
            "diabetes": datasets.load_diabetes}


def shipped_models():
    """The latest version of each model in the manifest, by name."""
    latest = {}
    for entry in read_manifest():
        if entry["version"] > latest.get(entry["name"], {"version": 0})["version"]:
            latest[entry["name"]] = entry
    return [latest[name] for name in sorted(latest)]


def rows_for(name, count):
    data = DATASETS[name]().data.tolist()
    return [data[i % len(data)] for i in range(count)]
