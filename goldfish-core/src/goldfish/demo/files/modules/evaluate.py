"""Score the trained model on the held-out test split."""

import numpy as np
from goldfish import io

params = np.load(io.load_input("model") / "weights.npz")
data = io.load_input("test")
x, y = data[:, :64], data[:, 64].astype(int)
pred = (((x - params["mean"]) / params["std"]) @ params["w"] + params["b"]).argmax(axis=1)

accuracy = float(np.mean(pred == y))
per_class = {str(c): float(np.mean(pred[y == c] == c)) for c in range(10) if np.any(y == c)}
io.log_metric("accuracy", accuracy)
io.save_output("scores", {"accuracy": accuracy, "per_class": per_class, "n": len(y)})
print(f"test accuracy: {accuracy:.3f}")
