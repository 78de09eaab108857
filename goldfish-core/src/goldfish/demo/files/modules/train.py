"""Train a softmax (multinomial logistic regression) classifier with full-batch gradient descent."""

import json

import numpy as np
from goldfish import io

cfg = io.config()
data = io.load_input("train")
x, y = data[:, :64], data[:, 64].astype(int)
mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
x = (x - mean) / std
onehot = np.eye(10)[y]

w = np.zeros((64, 10))
b = np.zeros(10)
for epoch in range(cfg["epochs"]):
    logits = x @ w + b
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(p[np.arange(len(y)), y] + 1e-12)) + cfg["l2"] * np.sum(w * w)
    grad = (p - onehot) / len(y)
    w -= cfg["lr"] * (x.T @ grad + 2 * cfg["l2"] * w)
    b -= cfg["lr"] * grad.sum(axis=0)
    io.log_metrics({"loss": float(loss), "train_accuracy": float(np.mean(p.argmax(1) == y))},
                   step=epoch)
    if io.should_stop():
        break

model = io.output_path("model")
np.savez(model / "weights.npz", w=w, b=b, mean=mean, std=std)
(model / "info.json").write_text(json.dumps({"epochs": cfg["epochs"], "lr": cfg["lr"]}))
print(f"trained for {cfg['epochs']} epochs, final loss {loss:.4f}")
