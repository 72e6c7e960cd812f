"""Typed configuration of the LA-Pose model, with the named presets ``paper``, ``small``, ``tiny``.

One :class:`LAPoseConfig` describes every network of the method and travels inside each
checkpoint (``to_dict`` / ``from_dict`` round-trip through plain ``int``/``float``/``bool``/``str``
values, so ``torch.load(..., weights_only=True)`` can read it back).

Sections:
    tokenizer           VQ-VAE whose frozen encoder gives each frame its code indices (the
                        forward-dynamics target).
    inverse_dynamics    latent action encoder: frames -> one latent action per adjacent pair.
    forward_dynamics    predicts the codes of frame t+1 from frames <= t and the latent action.
    pose_head           latent actions -> relative poses, FoV and the clip's metric scale.
    streaming           frame selection of the online estimator.
    pose_encoder        Camera Pose Auto-Encoder: relative pose -> latent action (refinement,
                        virtual latent actions; ``la_pose_core.pose_autoencoder``).

Beside them, :class:`RefinementConfig`: the estimator's test-time refinement with that encoder,
and :class:`OutputRateConfig`: one estimate per model frame or per camera frame (both chosen
when running, not stored in checkpoints).

Presets (:func:`get_config`): ``paper`` is the paper's scale (960x448 frames and 16-frame clips,
named once in :mod:`la_pose_core.paper`; 16-pixel patches, 1536-D latent actions, 50-D
bottleneck): the :class:`LAPoseConfig` defaults. The paper fixes those numbers; depths, head
counts, tokenizer widths and codebook size are this project's choices. ``small`` is a
mid-size model for CPU benchmarks; ``compact`` (frozen XFeat features, 256x128) is the
shipped model; ``tiny`` runs a whole training step on two CPU cores in a
fraction of a second (tests).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from la_pose_core.paper import PAPER_CLIP_LEN, PAPER_FRAME_SIZE


@dataclass
class TokenizerConfig:
    """Convolutional VQ-VAE. Codes per frame: ``(H / downsample) x (W / downsample)``."""

    downsample: int = 16  # image pixels per code along each axis; a power of two
    base_channels: int = 64  # channels at full resolution, doubled after each downsampling
    max_channels: int = 256  # cap of that doubling
    res_blocks: int = 2  # residual blocks per resolution stage
    codebook_size: int = 1024
    code_dim: int = 32  # width of a codebook vector
    commitment_weight: float = 0.25
    codebook_decay: float = 0.99  # EMA decay of the codebook update


@dataclass
class InverseDynamicsConfig:
    """Spatio-temporal ViT that turns frame pairs into latent actions (Genie-style).

    ``frame_encoder``: ``"patch"`` embeds pixels with a learned ``patch_size`` convolution (the
    paper); ``"xfeat"`` embeds frozen pretrained XFeat descriptors (one per 8x8 pixels) with a
    learned ``patch_size / 8`` convolution (``la_pose_core.model.frame_features``).

    ``correlation_radius`` (xfeat only, 0 = off): every frame's tokens also carry the local
    correlation of its descriptors with the previous frame's, over displacements of up to that
    many 8-pixel cells, and the soft-argmax displacement it implies (a cost volume, as in
    FlowNetC/PWC-Net; ``frame_features.MotionFeatures``). Factorised space-time attention only
    compares a token with the *same* slot of earlier frames, so without it motion of a cell or
    more has to be found by spatial mixing first; measured in the README.
    """

    frame_encoder: str = "patch"
    patch_size: int = 16
    dim: int = 1536  # transformer width = size d of a latent action
    depth: int = 12
    heads: int = 12
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    bottleneck_dim: int = 50  # size of the bottleneck code between the two MLPs
    bottleneck_hidden: int = 512  # hidden width of the two 3-layer bottleneck MLPs
    condition_on_dt: bool = True  # add an embedding of the frame interval to the action query
    # Variance-preserving bottleneck: Kaiming-initialised MLPs and a LayerNorm on the code, so
    # the latent action reaches the forward dynamics model (and its gradient the inverse
    # dynamics model) at unit scale. Off in the older presets: with ViT-style std-0.02 weights
    # through six layers the decoded action is ~1e-6 of the tokens and pretraining ignores it.
    normalized_bottleneck: bool = False
    # How the normalized bottleneck normalises its code: "layer" (each code to zero mean and
    # unit variance over its k entries) or "batch" (each of the k dimensions over the batch's
    # pairs, running statistics at inference, no parameters). A latent action is ~99 % one
    # constant vector (the learned query): "layer" keeps that constant, which reaches every
    # forward-dynamics token as a bias 10x the code embeddings while what differs between pairs
    # enters at 1/10 of it; "batch" removes it, so only what differs between pairs remains.
    code_norm: str = "layer"
    correlation_radius: int = 0  # cells; > 0 adds frame-to-frame motion features (xfeat only)
    # cost-volume levels: 1 at the descriptors' resolution; each further one on 2x pooled
    # descriptors, doubling the reach (frame_features.MotionFeatures)
    correlation_levels: int = 1


@dataclass
class ForwardDynamicsConfig:
    """Causal spatio-temporal decoder over code tokens, then light per-frame refiner blocks."""

    dim: int = 1024
    depth: int = 8
    heads: int = 16
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    refiner_depth: int = 4  # the "light" blocks on top of the decoder states
    refiner_dim: int = 512
    refiner_heads: int = 8
    # True (the paper): frame t+1 is predicted from frames <= t and a_t. False: from frame t and
    # a_t alone (no temporal attention). Smooth drives let a decoder with history extrapolate
    # the motion of the frames before, so it can predict without the action; without history
    # only the action says how frame t+1 differs from frame t.
    past_frames: bool = True


ROTATION_LOSSES = ("quaternion_l1", "rotation_vector_mse")


@dataclass
class PoseHeadConfig:
    """Non-causal transformer over [scale token, latent actions] and the loss weights."""

    dim: int = 512
    depth: int = 4
    heads: int = 8
    mlp_ratio: float = 4.0
    dropout: float = 0.0
    weight_translation: float = 1.0
    weight_rotation: float = 1.0
    weight_fov: float = 1.0
    weight_scale: float = 1.0
    # "quaternion_l1" (the paper): min(|q - q^|_1, |q + q^|_1). "rotation_vector_mse": squared
    # error of the rotation vectors in degrees. L1's minimiser is the conditional median: with
    # 90 % of pairs driving straight it shrank predicted turns to 0.1-0.2 % of the true ones
    # while their sign was right (yaw correlation 0.7); the squared error's is the mean.
    rotation_loss: str = "quaternion_l1"
    # Learned uncertainty weighting: each term becomes w * L * exp(-s) + s with a learnable s.
    learned_uncertainty: bool = False
    # Standardise each latent-action dimension before the head ("batch": a parameter-free
    # BatchNorm over the batch's pairs, running statistics at inference; "none": as is). A
    # backbone whose latent actions differ between pairs by ~2 % of their size
    # (code_norm "batch") gives a head that ignores them and predicts one motion for all.
    input_norm: str = "none"
    # Tell the head the camera's vertical FoV (of the model input; known from the calibration
    # or CameraInfo). Without it the head cannot tell a wide camera from a narrow one: the
    # head shipped 2026-12-03 predicts a FoV of 45-47 degrees for every camera, its turns at
    # 102 % of the true ones through a 40-degree camera, 70 % through a 60-degree one (README,
    # "The camera's field of view"). The FoV enters every token as a learned embedding of
    # log tan(fov / 2); an unknown FoV (None or NaN) gets a learned embedding of its own,
    # trained on the share ``camera_fov_dropout`` of the training clips.
    camera_fov_input: bool = False
    camera_fov_dropout: float = 0.1
    # With camera_fov_input: the head's x and y outputs of translation and rotation (lateral
    # and vertical motion, pitch, yaw) are in units of image motion, multiplied by
    # tan(fov / 2) / tan(22.5 deg) (the focal length's inverse, relative to a 45-degree camera;
    # the head's own FoV estimate where the camera's is unknown). Measured in two single runs
    # (48 drives; 72 with the narrow cameras): lower rotation error, flatter turn slope only
    # with the narrow drives, lower AUC@5 or worse real footage; off (README, "Where AUC@5 and
    # ATE-M are lost").
    motion_in_focal_units: bool = False


@dataclass
class StreamingConfig:
    """How the online estimator runs on a stream: which incoming frames it uses (training
    jitters 1-4 fps), whether it also runs each one's mirror image, whether it corrects each
    pair's yaw against keypoint matches, and how long it revises a pair's motion."""

    target_fps: float = 2.0  # also the nominal frame interval when no stamps are given
    rate_tolerance: float = 0.1  # accept a frame once 1 - tolerance of the interval has passed
    max_gap_s: float = 1.5  # a longer gap between used frames restarts tracking
    # also run the frames flipped left-right (a second stream, batched) and average each pair's
    # motion with the mirrored one's: what the model adds whatever the images show (a left or
    # right bias) cancels; twice the inverse dynamics cost (la_pose_core.data.mirror)
    mirror_average: bool = False
    # correct each pair's yaw by the best fit of the two frames' XFeat keypoint matches within
    # +-epipolar_search_deg of the model's (la_pose_core.inference.epipolar_yaw; 12 over 5: AUC@5
    # 88.0 -> 89.2 over 60 validation drives, README "A wider search"); matches farther than
    # epipolar_threshold_px from their epipolar line count as outliers
    epipolar_yaw: bool = False
    epipolar_search_deg: float = 12.0
    epipolar_threshold_px: float = 1.0
    # read each pair's step length from the road's image motion where the camera's mounting
    # above the road is known (PoseEstimator.set_road_plane; la_pose_core.inference.road_step).
    # Off: better on the synthetic drives (AUC@5 89.2 -> 90.2, step correlation 0.78 -> 0.82
    # over 60 validation drives), but on the KITTI sample its wrong minima lift ATE-M 0.43 ->
    # 3.65 m (README, "The road plane")
    road_step: bool = False
    # revise each pair's motion from the windows after it (a fixed-lag smoother over the
    # sliding window): final once it has fixed_lag later pairs in the window (at most
    # clip_len - 2, where it would leave the window). The revised trajectory is that many pairs
    # late: la-pose evaluate and the benchmarks score it, FinalPairs gives it out (the node's
    # ~/odometry/revised); the pose chained live (StepResult.world_from_cam, the node's
    # ~/odometry and TF) keeps each pair as first reported.
    # 0: nothing revised (PoseEstimator.step; README, "Revised pairs")
    fixed_lag: int = 0

    def overridden(self, **values) -> StreamingConfig:
        """This config with the given fields replaced; a None value keeps the field (a
        command-line flag that was not given)."""
        return dataclasses.replace(self, **{k: v for k, v in values.items() if v is not None})


@dataclass
class PoseEncoderConfig:
    """Pose encoder of the Camera Pose Auto-Encoder (``la_pose_core.pose_autoencoder``).

    Fourier features of every pose coordinate, then a ReLU MLP ``(*hidden, d)`` with ``d`` the
    inverse dynamics width. Its output lives in the latent-action space of the backbone it was
    trained against.
    """

    fourier_levels: int = 6  # L: frequencies 2^0 .. 2^(L-1) per coordinate, input kept
    hidden: list[int] = field(default_factory=lambda: [64, 128, 256])  # ReLU layer widths
    use_fps: bool = True  # the pair's frame rate is an input (latent actions depend on dt)
    # metres per unit of embedded translation; pairs at 1-4 fps move about 0-15 m
    translation_scale: float = 5.0
    pose_loss_weight: float = 1.0  # weight of the pose-head term of the teacher-student loss


@dataclass
class RefinementConfig:
    """Test-time refinement of the estimator's translations with a trained pose encoder's
    motion bank (``la_pose_core.pose_autoencoder.refinement``); off while ``checkpoint`` is
    empty.

    Not a section of :class:`LAPoseConfig`: the estimator's run-time choice, not part of a
    checkpoint. Mirrored one-to-one by the node's ``refinement`` parameters.
    """

    checkpoint: str = ""  # a trained pose encoder with its motion bank (la-pose train pose-encoder)
    k: int = 3  # bank motions combined per pair
    ridge: float = 1e-9  # relative regulariser of the affine weights (refinement docstring)


OUTPUT_RATE_MODES = ("model", "camera")


@dataclass
class OutputRateConfig:
    """How often the online estimator reports a pose (``la_pose_core.inference.camera_rate``).

    ``model``: once per frame the model uses (``streaming.target_fps``), whatever the camera
    rate. ``camera``: once per camera frame, at most ``max_hz``: interleaved streams, each at
    the model's rate, cost one streaming step per frame. Not a section of :class:`LAPoseConfig`
    (a run-time choice); mirrored one-to-one by the node's ``output_rate`` parameters.
    """

    mode: str = "model"  # model (one pose per model frame) or camera (one per camera frame)
    max_hz: float = 30.0  # camera: frames used at most this often (greedy, by stamp)

    def __post_init__(self) -> None:
        if self.mode not in OUTPUT_RATE_MODES:
            raise ValueError(f"output_rate.mode must be one of {OUTPUT_RATE_MODES}: {self.mode!r}")
        if not self.max_hz > 0.0:
            raise ValueError(f"output_rate.max_hz must be positive, got {self.max_hz}")


@dataclass
class LAPoseConfig:
    """The whole model: input size, clip length and one section per network."""

    name: str = "paper"
    image_height: int = PAPER_FRAME_SIZE[1]
    image_width: int = PAPER_FRAME_SIZE[0]
    clip_len: int = PAPER_CLIP_LEN  # frames per training clip = frames in the streaming window
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    inverse_dynamics: InverseDynamicsConfig = field(default_factory=InverseDynamicsConfig)
    forward_dynamics: ForwardDynamicsConfig = field(default_factory=ForwardDynamicsConfig)
    pose_head: PoseHeadConfig = field(default_factory=PoseHeadConfig)
    streaming: StreamingConfig = field(default_factory=StreamingConfig)
    pose_encoder: PoseEncoderConfig = field(default_factory=PoseEncoderConfig)

    def __post_init__(self) -> None:
        self.validate()

    @property
    def patch_grid(self) -> tuple[int, int]:
        """``(rows, columns)`` of inverse-dynamics patches per frame."""
        patch = self.inverse_dynamics.patch_size
        return self.image_height // patch, self.image_width // patch

    @property
    def code_grid(self) -> tuple[int, int]:
        """``(rows, columns)`` of tokenizer codes per frame."""
        factor = self.tokenizer.downsample
        return self.image_height // factor, self.image_width // factor

    @property
    def nominal_dt(self) -> float:
        """Seconds between used frames at the target rate."""
        return 1.0 / self.streaming.target_fps

    def validate(self) -> None:
        """Raise ``ValueError`` if the sizes do not fit together."""
        problems = []
        factor = self.tokenizer.downsample
        if factor < 2 or factor & (factor - 1):
            problems.append(f"tokenizer.downsample must be a power of two >= 2, got {factor}")
        for what, step in (
            ("tokenizer.downsample", factor),
            ("inverse_dynamics.patch_size", self.inverse_dynamics.patch_size),
        ):
            if step < 1 or self.image_height % step or self.image_width % step:
                problems.append(
                    f"image {self.image_width}x{self.image_height} is not divisible by "
                    f"{what}={step}"
                )
        for what, dim, heads in (
            ("inverse_dynamics", self.inverse_dynamics.dim, self.inverse_dynamics.heads),
            ("forward_dynamics", self.forward_dynamics.dim, self.forward_dynamics.heads),
            (
                "forward_dynamics.refiner",
                self.forward_dynamics.refiner_dim,
                self.forward_dynamics.refiner_heads,
            ),
            ("pose_head", self.pose_head.dim, self.pose_head.heads),
        ):
            if heads < 1 or dim % heads or (dim // heads) % 2:
                problems.append(f"{what}: dim {dim} must split into {heads} heads of even width")
        encoder = self.inverse_dynamics.frame_encoder
        if encoder not in ("patch", "xfeat"):
            problems.append(f"inverse_dynamics.frame_encoder must be patch or xfeat, got {encoder}")
        if encoder == "xfeat" and self.inverse_dynamics.patch_size % 8:
            problems.append("inverse_dynamics.patch_size must be a multiple of 8 with xfeat")
        radius = self.inverse_dynamics.correlation_radius
        if radius < 0 or (radius and encoder != "xfeat"):
            problems.append("inverse_dynamics.correlation_radius must be 0, or >= 1 with xfeat")
        if self.inverse_dynamics.correlation_levels < 1:
            problems.append("inverse_dynamics.correlation_levels must be at least 1")
        if self.pose_head.rotation_loss not in ROTATION_LOSSES:
            problems.append(f"pose_head.rotation_loss must be one of {ROTATION_LOSSES}")
        if self.clip_len < 2:
            problems.append(f"clip_len must be at least 2, got {self.clip_len}")
        if self.streaming.target_fps <= 0 or self.streaming.max_gap_s <= 0:
            problems.append("streaming.target_fps and streaming.max_gap_s must be positive")
        if not 0 <= self.streaming.rate_tolerance < 1:
            problems.append("streaming.rate_tolerance must be in [0, 1)")
        if self.streaming.epipolar_search_deg < 0.4 or self.streaming.epipolar_threshold_px <= 0:
            problems.append(
                "streaming.epipolar_search_deg must be at least 0.4 (two steps of the search's "
                "first grid) and streaming.epipolar_threshold_px positive"
            )
        if self.streaming.fixed_lag < 0:
            problems.append("streaming.fixed_lag must be at least 0")
        encoder = self.pose_encoder
        if encoder.fourier_levels < 0 or not encoder.hidden or min(encoder.hidden) < 1:
            problems.append("pose_encoder: fourier_levels >= 0 and positive hidden widths needed")
        if encoder.translation_scale <= 0:
            problems.append("pose_encoder.translation_scale must be positive")
        if problems:
            raise ValueError("invalid LA-Pose config: " + "; ".join(problems))

    @property
    def fixed_lag(self) -> int:
        """Later pairs after which the streaming estimator makes a pair's motion final:
        ``streaming.fixed_lag``, at most ``clip_len - 2`` (an older pair has left the window)."""
        return min(self.streaming.fixed_lag, self.clip_len - 2)

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dict (JSON- and ``weights_only``-safe)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LAPoseConfig:
        """Inverse of :meth:`to_dict`. Unknown keys raise ``ValueError`` (no silent drops)."""
        return _from_dict(cls, data)


def _from_dict(cls: type, data: dict[str, Any]) -> Any:
    """Build dataclass ``cls`` from a nested dict, recursing into dataclass-typed fields."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys: {sorted(unknown)}")
    values = {}
    for name, value in data.items():
        section = _SECTIONS.get(name) if cls is LAPoseConfig else None
        values[name] = _from_dict(section, value) if section is not None else value
    return cls(**values)


_SECTIONS: dict[str, type] = {
    "tokenizer": TokenizerConfig,
    "inverse_dynamics": InverseDynamicsConfig,
    "forward_dynamics": ForwardDynamicsConfig,
    "pose_head": PoseHeadConfig,
    "streaming": StreamingConfig,
    "pose_encoder": PoseEncoderConfig,
}


def paper_config() -> LAPoseConfig:
    """Paper scale: 960x448 frames, 16-frame clips, patch 16, d = 1536, 50-D bottleneck."""
    return LAPoseConfig(name="paper")


def small_config() -> LAPoseConfig:
    """Mid-size model for CPU benchmarks: 256x128 frames, 16-frame clips."""
    return LAPoseConfig(
        name="small",
        image_height=128,
        image_width=256,
        clip_len=16,
        tokenizer=TokenizerConfig(
            downsample=16,
            base_channels=16,
            max_channels=64,
            res_blocks=1,
            codebook_size=512,
            code_dim=16,
        ),
        inverse_dynamics=InverseDynamicsConfig(
            patch_size=16, dim=256, depth=4, heads=4, bottleneck_dim=50, bottleneck_hidden=128
        ),
        forward_dynamics=ForwardDynamicsConfig(
            dim=256, depth=4, heads=4, refiner_depth=4, refiner_dim=128, refiner_heads=4
        ),
        pose_head=PoseHeadConfig(dim=128, depth=2, heads=4),
    )


def compact_config() -> LAPoseConfig:
    """The recipe's model: 256x128 frames, 8-frame clips, frozen XFeat features and their cost
    volume to the previous frame under a small spatio-temporal transformer, a batch-normalised
    action code and a standardised head input; trains in about two hours on two CPU cores
    (``tools/train_model.sh``). The shipped checkpoint predates the last two (its stored config
    has ``code_norm="layer"``, ``input_norm="none"``)."""
    return LAPoseConfig(
        name="compact",
        image_height=128,
        image_width=256,
        clip_len=8,
        tokenizer=TokenizerConfig(
            downsample=16,
            base_channels=8,
            max_channels=32,
            res_blocks=1,
            codebook_size=256,
            code_dim=16,
        ),
        inverse_dynamics=InverseDynamicsConfig(
            frame_encoder="xfeat",
            normalized_bottleneck=True,
            code_norm="batch",  # what differs between pairs reaches the forward dynamics
            correlation_radius=4,  # +-32 pixels: a 2 fps turn moves the scene 1-4 cells
            patch_size=16,
            dim=128,
            depth=3,
            heads=4,
            bottleneck_dim=50,
            bottleneck_hidden=128,
        ),
        forward_dynamics=ForwardDynamicsConfig(
            dim=128, depth=2, heads=4, refiner_depth=1, refiner_dim=64, refiner_heads=2
        ),
        pose_head=PoseHeadConfig(
            dim=64,
            depth=2,
            heads=4,
            rotation_loss="rotation_vector_mse",
            weight_rotation=0.1,
            input_norm="batch",  # code_norm "batch" leaves the latent actions 2 % apart
        ),
    )


def tiny_config() -> LAPoseConfig:
    """Test-size model: 64x32 frames, 6-frame clips; a training step takes ~0.1 s on 2 CPU cores."""
    return LAPoseConfig(
        name="tiny",
        image_height=32,
        image_width=64,
        clip_len=6,
        tokenizer=TokenizerConfig(
            downsample=8,
            base_channels=8,
            max_channels=16,
            res_blocks=1,
            codebook_size=32,
            code_dim=8,
        ),
        inverse_dynamics=InverseDynamicsConfig(
            patch_size=4, dim=128, depth=3, heads=4, bottleneck_dim=50, bottleneck_hidden=64
        ),
        forward_dynamics=ForwardDynamicsConfig(
            dim=64, depth=2, heads=4, refiner_depth=2, refiner_dim=32, refiner_heads=2
        ),
        pose_head=PoseHeadConfig(dim=32, depth=1, heads=2),
    )


PRESETS = {
    "paper": paper_config,
    "small": small_config,
    "compact": compact_config,
    "tiny": tiny_config,
}


def get_config(name: str) -> LAPoseConfig:
    """A fresh copy of the named preset (``paper``, ``small`` or ``tiny``)."""
    if name not in PRESETS:
        raise ValueError(f"unknown config {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]()
