"""Train SmallNet on NoisyBars and print the validation accuracy.

    python train.py --epochs 2 --workers 2
"""

import argparse

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, random_split

from dataset import NoisyBars
from model import SmallNet
from utils import class_histogram, enable_fast_kernels


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--lr", type=float, default=0.05)
    return parser.parse_args()


def evaluate(model: SmallNet, loader: DataLoader) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for images, labels in loader:
            correct += (model(images).argmax(dim=1) == labels).sum().item()
            total += labels.numel()
    return correct / total


def main() -> None:
    args = parse_args()
    enable_fast_kernels()
    torch.backends.cudnn.deterministic = False

    dataset = NoisyBars()
    train_set, val_set = random_split(dataset, [224, 32])
    train_loader = DataLoader(train_set, batch_size=32, shuffle=True, num_workers=args.workers)
    val_loader = DataLoader(val_set, batch_size=32)

    model = SmallNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    for epoch in range(args.epochs):
        model.train()
        for images, labels in train_loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(images), labels)
            loss.backward()
            optimizer.step()
        print(f"epoch {epoch}: loss {loss.item():.4f}, val accuracy {evaluate(model, val_loader):.3f}")
    print("validation labels per class:", class_histogram(torch.cat([y for _, y in val_loader]), 10).tolist())


if __name__ == "__main__":
    main()
