//! Weights from other implementations: OpenAI's DALL·E dVAE pickles.
//!
//! [`pickle`] reads a pickle as a value tree without running it (an allow-list of globals);
//! [`torch_file`] reads `torch.save` checkpoints (zip and legacy formats); [`torch_tensor`]
//! rebuilds their tensors (dtypes, strides, offsets); [`torch_module`] walks a pickled
//! `torch.nn.Module`; [`openai`] turns `dall_e`'s encoder and decoder into a run directory;
//! [`dalle_names`] maps their parameter names to ours.

pub mod dalle_names;
pub mod openai;
pub mod pickle;
pub mod torch_file;
pub mod torch_module;
pub mod torch_tensor;
