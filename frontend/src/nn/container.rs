//! Containers: `Sequential` chains modules, `ModuleList` holds them for the owner to call.

use super::module::{Entry, Module};
use crate::tensor::Tensor;

/// Applies its modules in order; children are named `0`, `1`, ... as in PyTorch.
#[derive(Default)]
pub struct Sequential {
    layers: Vec<Box<dyn Module>>,
}

impl Sequential {
    pub fn new() -> Sequential {
        Sequential::default()
    }

    /// Appends a layer, builder style: `Sequential::new().add(Linear::new(4, 8)).add(ReLU)`.
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, layer: impl Module + 'static) -> Sequential {
        self.layers.push(Box::new(layer));
        self
    }

    pub fn push(&mut self, layer: Box<dyn Module>) {
        self.layers.push(layer);
    }

    pub fn len(&self) -> usize {
        self.layers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    pub fn get(&self, index: usize) -> &dyn Module {
        self.layers
            .get(index)
            .unwrap_or_else(|| panic!("Sequential: index {index} out of range for {} layers", self.layers.len()))
            .as_ref()
    }
}

impl Module for Sequential {
    fn forward(&self, input: &Tensor) -> Tensor {
        let mut x = input.clone();
        for layer in &self.layers {
            x = layer.forward(&x);
        }
        x
    }

    fn visit<'a>(&'a self, visit: &mut dyn FnMut(&str, Entry<'a>)) {
        for (i, layer) in self.layers.iter().enumerate() {
            visit(&i.to_string(), Entry::Child(layer.as_ref()));
        }
    }
}

/// A list of modules of one type, named `0`, `1`, ...; its owner decides how to call them.
pub struct ModuleList<M> {
    modules: Vec<M>,
}

impl<M> Default for ModuleList<M> {
    fn default() -> Self {
        ModuleList { modules: Vec::new() }
    }
}

impl<M: Module> ModuleList<M> {
    pub fn new(modules: Vec<M>) -> ModuleList<M> {
        ModuleList { modules }
    }

    pub fn push(&mut self, module: M) {
        self.modules.push(module);
    }

    pub fn len(&self) -> usize {
        self.modules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.modules.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, M> {
        self.modules.iter()
    }
}

impl<M> std::ops::Index<usize> for ModuleList<M> {
    type Output = M;
    fn index(&self, index: usize) -> &M {
        let len = self.modules.len();
        self.modules.get(index).unwrap_or_else(|| panic!("ModuleList: index {index} out of range for {len} modules"))
    }
}

impl<'l, M> IntoIterator for &'l ModuleList<M> {
    type Item = &'l M;
    type IntoIter = std::slice::Iter<'l, M>;
    fn into_iter(self) -> Self::IntoIter {
        self.modules.iter()
    }
}

impl<M: Module> Module for ModuleList<M> {
    /// Applies the modules in order, like `Sequential`.
    fn forward(&self, input: &Tensor) -> Tensor {
        self.modules.iter().fold(input.clone(), |x, m| m.forward(&x))
    }

    fn visit<'a>(&'a self, visit: &mut dyn FnMut(&str, Entry<'a>)) {
        for (i, m) in self.modules.iter().enumerate() {
            visit(&i.to_string(), Entry::Child(m));
        }
    }
}
