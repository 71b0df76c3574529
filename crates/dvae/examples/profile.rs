use burn::prelude::*;
use dvae::config::ModelConfig;
use dvae::model::{DvaeModel, quantizer::gumbel};
use rand::SeedableRng;
use std::time::Instant;

fn t<T>(name: &str, f: impl Fn() -> T) {
    f();
    let t0 = Instant::now();
    for _ in 0..3 {
        f();
    }
    println!(
        "{name}: {:.1} ms",
        t0.elapsed().as_secs_f64() * 1000.0 / 3.0
    );
}

fn main() {
    let preset = std::env::args().nth(1).unwrap_or("tiny".into());
    let c = ModelConfig::preset(&preset).unwrap();
    let dev = Device::flex();
    let ad = dev.clone().autodiff();
    let b = 32;
    let s = c.image_size;
    let g = c.grid_size();
    let model = DvaeModel::new(&c, 0, &ad);
    let x = Tensor::<4>::random(
        [b, 3, s, s],
        burn::tensor::Distribution::Uniform(0.0, 1.0),
        &ad,
    );
    let xv = x.clone().inner();
    let mv = model.valid();
    t("encoder fwd (no grad)", || {
        mv.encoder.forward(xv.clone()).into_data()
    });
    let z = Tensor::<4>::random(
        [b, c.vocab_size, g, g],
        burn::tensor::Distribution::Uniform(0.0, 1.0),
        &dev,
    );
    t("decoder fwd (no grad)", || {
        mv.decoder.forward(z.clone()).into_data()
    });
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    t("noise", || {
        gumbel::uniform_noise([b, c.vocab_size, g, g], &mut rng.clone(), &ad).into_data()
    });
    let zz = Tensor::<4>::random(
        [b, c.vocab_size, g, g],
        burn::tensor::Distribution::Uniform(0.0, 1.0),
        &ad,
    );
    t("gumbel softmax hard", || {
        gumbel::gumbel_softmax(zz.clone(), zz.clone(), 1.0, true).into_data()
    });
    t("train fwd+bwd", || {
        let f = model.forward_train(x.clone(), zz.clone(), 1.0, true);
        let l =
            dvae::loss::logit_laplace_nll(f.out, x.clone()) + dvae::loss::kl_to_uniform(f.logits);
        l.backward();
    });
    t("enc fwd+bwd", || {
        model.encoder.forward(x.clone()).sum().backward();
    });
    t("dec fwd+bwd", || {
        model.decoder.forward(zz.clone()).sum().backward();
    });
    let data = dvae::data::ImageSet::procedural(100, s);
    t("batch of procedural", || {
        data.batch(&(0..32).collect::<Vec<_>>(), &dev).into_data()
    });
    let _ = rng.clone();
    rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let _ = rng;
}
