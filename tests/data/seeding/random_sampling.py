"""Sampling with Python's random module; prints a digest of the samples."""
import hashlib
import random as rnd

population = list(range(1000))
picked = rnd.sample(population, 20)
rnd.shuffle(picked)
weights = [rnd.random() for _ in range(5)]
print(hashlib.sha256(repr((picked, weights)).encode()).hexdigest())
