"""A small convolutional classifier with a channel-attention block."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class ChannelAttention(nn.Module):
    """Re-weights channels from a pooled summary of the feature map."""

    def __init__(self, channels: int):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d((4, 4))
        self.fc = nn.Linear(channels * 16, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.sigmoid(self.fc(self.pool(x).flatten(1)))
        return x * weights[:, :, None, None]


class SmallNet(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=3, padding=1)
        self.attention = ChannelAttention(32)
        self.dropout = nn.Dropout(0.2)
        self.head = nn.Linear(32, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        x = F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False)
        x = F.relu(self.conv2(x))
        x = self.attention(x)
        return self.head(self.dropout(x.mean(dim=(2, 3))))
