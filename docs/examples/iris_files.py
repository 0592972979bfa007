"""The README's loop example: writes, in the current folder,

    iris.csv      the 150 rows of scikit-learn's iris data, a `ref` column first
    labels.csv    ref,actual: the species of each row (the ground truth)
    shifted.csv   the same rows with petal_length + 2 (a drifted feature)

    .venv/bin/python docs/examples/iris_files.py"""
import csv

from sklearn.datasets import load_iris

COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def write(path, header, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


if __name__ == "__main__":
    iris = load_iris()
    rows = [[f"r{i}", *row] for i, row in enumerate(iris.data.tolist())]
    write("iris.csv", ["ref", *COLUMNS], rows)
    write("labels.csv", ["ref", "actual"],
          [[f"r{i}", iris.target_names[t]] for i, t in enumerate(iris.target)])
    write("shifted.csv", ["ref", *COLUMNS],
          [[f"s{i}", a, b, round(c + 2, 1), d] for i, (_, a, b, c, d) in enumerate(rows)])
    print("wrote iris.csv, labels.csv, shifted.csv")
