"""The device replay buffer: wrap-around like the host buffer, sampling only filled rows."""

import jax
import jax.numpy as jnp
import numpy as np

from lib.device_buffer import DeviceBuffer
from lib.replay_buffer import ReplayBuffer
from lib.transition import Transition


def _transitions(start, n):
  t = Transition.empty(n, 3, 2, 1)
  t = t.replace(obs=np.arange(start, start + n, dtype=np.float32)[:, None].repeat(3, 1),
                reward=np.arange(start, start + n, dtype=np.float32),
                terminated=np.arange(start, start + n) % 2 == 0)
  return t


def test_add_wraps_around_like_the_host_buffer():
  device, host = DeviceBuffer.create(5, 3, 2, 1), ReplayBuffer(5, 3, 2, 1)
  add = jax.jit(DeviceBuffer.add)
  for start, n in ((0, 3), (3, 4), (7, 2)):
    batch = _transitions(start, n)
    device = add(device, jax.tree.map(jnp.asarray, batch))
    host.add_batch(batch)
  assert int(device.size) == len(host) == 5 and int(device.next_index) == host.next_index
  for name, stored in host.data.items():
    np.testing.assert_array_equal(np.asarray(getattr(device.data, name)), stored, err_msg=name)


def test_sample_draws_filled_rows_only_and_clear_empties():
  buffer = DeviceBuffer.create(100, 3, 2, 1).add(jax.tree.map(jnp.asarray, _transitions(10, 7)))
  batch = jax.jit(DeviceBuffer.sample, static_argnums=2)(buffer, jax.random.key(0), (4, 50))
  assert batch.obs.shape == (4, 50, 3) and batch.terminated.dtype == jnp.bool_
  rewards = np.asarray(batch.reward)
  assert set(np.unique(rewards)) == set(range(10, 17))  # every filled row, no empty one
  np.testing.assert_array_equal(np.asarray(batch.obs)[..., 0], rewards)  # rows stay whole
  cleared = buffer.clear()
  assert int(cleared.size) == 0 and int(cleared.next_index) == 0


def test_adding_more_than_the_capacity_keeps_the_newest_like_the_host_buffer():
  device, host = DeviceBuffer.create(4, 3, 2, 1), ReplayBuffer(4, 3, 2, 1)
  for start, n in ((0, 3), (3, 6)):
    batch = _transitions(start, n)
    device = device.add(jax.tree.map(jnp.asarray, batch))
    host.add_batch(batch)
  assert int(device.size) == 4 and int(device.next_index) == host.next_index
  np.testing.assert_array_equal(np.asarray(device.data.reward), host.data["reward"])
