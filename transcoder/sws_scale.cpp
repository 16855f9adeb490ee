#include "transcoder/sws_scale.h"

#include <gst/gst.h>
#include <gst/video/gstvideofilter.h>
#include <gst/video/gstvideopool.h>
#include <gst/video/video.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "transcoder/gst_util.h"

extern "C" {
#include <libavutil/pixfmt.h>
#include <libswscale/swscale.h>
}

namespace newsreel::transcoder {
namespace {

struct SwsScale {
  GstVideoFilter parent;
  SwsContext* context;  // null while passing through or before the caps are known
  // Where the picture goes in the output frame: all of it, or less when its shape differs and
  // black bars fill the rest.
  int x, y, width, height;
  bool bars;
  guint8 black;      // the luma of black: 16, or 0 for full-range frames
  double bicubic_c;  // the "bicubic-c" property
};
struct SwsScaleClass {
  GstVideoFilterClass parent_class;
};

GstVideoFilterClass* parent_class = nullptr;

constexpr char kI420Caps[] =
    "video/x-raw, format=(string)I420, width=(int)[1, 32767], height=(int)[1, 32767], "
    "framerate=(fraction)[0/1, 2147483647/1]";

// Any size on the other side: the capsfilter after the element says which.
GstCaps* TransformCaps(GstBaseTransform*, GstPadDirection, GstCaps* caps, GstCaps* filter) {
  GstCaps* out = gst_caps_new_empty();
  for (guint i = 0; i < gst_caps_get_size(caps); ++i) {
    GstStructure* s = gst_structure_copy(gst_caps_get_structure(caps, i));
    gst_structure_set(s, "width", GST_TYPE_INT_RANGE, 1, 32767, "height", GST_TYPE_INT_RANGE, 1,
                      32767, nullptr);
    if (gst_structure_has_field(s, "pixel-aspect-ratio"))
      gst_structure_set(s, "pixel-aspect-ratio", GST_TYPE_FRACTION_RANGE, 1, G_MAXINT, G_MAXINT, 1,
                        nullptr);
    out = gst_caps_merge_structure(out, s);
  }
  if (filter != nullptr) {
    GstCaps* both = gst_caps_intersect_full(filter, out, GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref(out);
    out = both;
  }
  return out;
}

// Left free by the peer, the size stays the input's.
GstCaps* FixateCaps(GstBaseTransform*, GstPadDirection, GstCaps* caps, GstCaps* othercaps) {
  othercaps = gst_caps_make_writable(gst_caps_truncate(othercaps));
  const GstStructure* in = gst_caps_get_structure(caps, 0);
  GstStructure* out = gst_caps_get_structure(othercaps, 0);
  int value = 0;
  if (gst_structure_get_int(in, "width", &value))
    gst_structure_fixate_field_nearest_int(out, "width", value);
  if (gst_structure_get_int(in, "height", &value))
    gst_structure_fixate_field_nearest_int(out, "height", value);
  if (gst_structure_has_field(out, "pixel-aspect-ratio"))
    gst_structure_fixate_field_nearest_fraction(out, "pixel-aspect-ratio", 1, 1);
  return gst_caps_fixate(othercaps);
}

constexpr double kDefaultBicubicC = 0.6;  // libswscale's
enum Property : guint { kBicubicC = 1 };

void FreeContext(SwsScale* self) {
  if (self->context != nullptr) sws_freeContext(self->context);
  self->context = nullptr;
}

int EvenDown(double v) { return std::max(2, static_cast<int>(std::lround(v)) & ~1); }

// The picture keeps its shape, as videoscale's add-borders does: a frame of another aspect (a
// later session of a recording, a stream that changes size) is fitted inside the output frame
// with black bars, not squeezed. A difference of up to two pixels (the rungs' even sizes) is
// not a shape.
void PlacePicture(SwsScale* self, const GstVideoInfo* in, const GstVideoInfo* out) {
  self->width = out->width;
  self->height = out->height;
  const double in_aspect = static_cast<double>(in->width) * in->par_n / (in->height * in->par_d);
  const double out_par = static_cast<double>(out->par_n) / out->par_d;
  const double fitted_width = out->height * in_aspect / out_par;
  const double fitted_height = out->width * out_par / in_aspect;
  if (fitted_width < out->width - 2)
    self->width = std::min(out->width, EvenDown(fitted_width));
  else if (fitted_height < out->height - 2)
    self->height = std::min(out->height, EvenDown(fitted_height));
  self->x = ((out->width - self->width) / 2) & ~1;
  self->y = ((out->height - self->height) / 2) & ~1;
  self->bars = self->width != out->width || self->height != out->height;
  self->black = out->colorimetry.range == GST_VIDEO_COLOR_RANGE_0_255 ? 0 : 16;
}

gboolean SetInfo(GstVideoFilter* filter, GstCaps*, GstVideoInfo* in, GstCaps*, GstVideoInfo* out) {
  auto* self = reinterpret_cast<SwsScale*>(filter);
  FreeContext(self);
  PlacePicture(self, in, out);
  const bool same = in->width == out->width && in->height == out->height && !self->bars;
  gst_base_transform_set_passthrough(GST_BASE_TRANSFORM(filter), same);
  if (same) return TRUE;
  // B = 0, as libswscale's own default; C as asked (its default is kDefaultBicubicC).
  double params[2] = {0.0, self->bicubic_c};
  self->context =
      sws_getContext(in->width, in->height, AV_PIX_FMT_YUV420P, self->width, self->height,
                     AV_PIX_FMT_YUV420P, SWS_BICUBIC, nullptr, nullptr, params);
  if (self->context == nullptr) {
    GST_ELEMENT_ERROR(
        filter, CORE, NEGOTIATION, (nullptr),
        ("libswscale cannot scale %dx%d to %dx%d", in->width, in->height, out->width, out->height));
    return FALSE;
  }
  return TRUE;
}

// Rows that start on 32 bytes, as libswscale's vector code wants them (854 pixels would
// otherwise get a stride of 856).
gboolean DecideAllocation(GstBaseTransform* trans, GstQuery* query) {
  if (!GST_BASE_TRANSFORM_CLASS(parent_class)->decide_allocation(trans, query)) return FALSE;
  if (gst_query_get_n_allocation_pools(query) == 0) return TRUE;
  GstBufferPool* pool = nullptr;
  guint size = 0, min = 0, max = 0;
  gst_query_parse_nth_allocation_pool(query, 0, &pool, &size, &min, &max);
  if (pool == nullptr) return TRUE;
  GstStructure* config = gst_buffer_pool_get_config(pool);
  if (gst_buffer_pool_has_option(pool, GST_BUFFER_POOL_OPTION_VIDEO_ALIGNMENT)) {
    GstVideoAlignment align;
    gst_video_alignment_reset(&align);
    for (guint i = 0; i < GST_VIDEO_MAX_PLANES; ++i) align.stride_align[i] = 31;
    gst_buffer_pool_config_add_option(config, GST_BUFFER_POOL_OPTION_VIDEO_META);
    gst_buffer_pool_config_add_option(config, GST_BUFFER_POOL_OPTION_VIDEO_ALIGNMENT);
    gst_buffer_pool_config_set_video_alignment(config, &align);
  }
  if (!gst_buffer_pool_set_config(pool, config)) {
    // A pool that refuses the alignment still works, a little slower.
    config = gst_buffer_pool_get_config(pool);
    gst_buffer_pool_config_validate_params(config, nullptr, size, min, max);
    gst_buffer_pool_set_config(pool, config);
  }
  gst_object_unref(pool);
  return TRUE;
}

GstFlowReturn TransformFrame(GstVideoFilter* filter, GstVideoFrame* in, GstVideoFrame* out) {
  auto* self = reinterpret_cast<SwsScale*>(filter);
  if (self->context == nullptr) return GST_FLOW_NOT_NEGOTIATED;
  const uint8_t* src[3];
  uint8_t* dst[3];
  int src_stride[3];
  int dst_stride[3];
  for (int i = 0; i < 3; ++i) {
    src[i] = static_cast<const uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(in, i));
    src_stride[i] = GST_VIDEO_FRAME_PLANE_STRIDE(in, i);
    dst[i] = static_cast<uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(out, i));
    dst_stride[i] = GST_VIDEO_FRAME_PLANE_STRIDE(out, i);
    if (self->bars) {
      // Black (U and V 128) everywhere, then the picture on top.
      const int rows = GST_VIDEO_FRAME_COMP_HEIGHT(out, i);
      std::memset(dst[i], i == 0 ? self->black : 128, static_cast<size_t>(dst_stride[i]) * rows);
      const int shift = i == 0 ? 0 : 1;
      dst[i] += static_cast<ptrdiff_t>(self->y >> shift) * dst_stride[i] + (self->x >> shift);
    }
  }
  sws_scale(self->context, src, src_stride, 0, GST_VIDEO_FRAME_HEIGHT(in), dst, dst_stride);
  return GST_FLOW_OK;
}

gboolean Stop(GstBaseTransform* trans) {
  FreeContext(reinterpret_cast<SwsScale*>(trans));
  return TRUE;
}

void Finalize(GObject* object) {
  FreeContext(reinterpret_cast<SwsScale*>(object));
  G_OBJECT_CLASS(parent_class)->finalize(object);
}

void SetProperty(GObject* object, guint id, const GValue* value, GParamSpec* spec) {
  auto* self = reinterpret_cast<SwsScale*>(object);
  if (id == kBicubicC)
    self->bicubic_c = g_value_get_double(value);  // used from the next caps on
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, spec);
}

void GetProperty(GObject* object, guint id, GValue* value, GParamSpec* spec) {
  auto* self = reinterpret_cast<SwsScale*>(object);
  if (id == kBicubicC)
    g_value_set_double(value, self->bicubic_c);
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, spec);
}

void InstanceInit(GTypeInstance* instance, gpointer) {
  reinterpret_cast<SwsScale*>(instance)->bicubic_c = kDefaultBicubicC;
}

void ClassInit(gpointer klass, gpointer) {
  parent_class = static_cast<GstVideoFilterClass*>(g_type_class_peek_parent(klass));
  GObjectClass* object = G_OBJECT_CLASS(klass);
  object->finalize = Finalize;
  object->set_property = SetProperty;
  object->get_property = GetProperty;
  g_object_class_install_property(
      object, kBicubicC,
      g_param_spec_double("bicubic-c", "bicubic-c",
                          "C of the bicubic filter (B is 0): 0.6 is libswscale's, 1 is sharper",
                          0.0, 1.0, kDefaultBicubicC,
                          static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
  GstElementClass* element = GST_ELEMENT_CLASS(klass);
  AddAlwaysPads(element, kI420Caps, kI420Caps);
  gst_element_class_set_static_metadata(
      element, "libswscale video scaler", "Filter/Converter/Video/Scaler",
      "Resizes I420 frames with libswscale's bicubic filter", "newsreel");
  GstBaseTransformClass* transform = GST_BASE_TRANSFORM_CLASS(klass);
  transform->transform_caps = TransformCaps;
  transform->fixate_caps = FixateCaps;
  transform->decide_allocation = DecideAllocation;
  transform->stop = Stop;
  GstVideoFilterClass* video = GST_VIDEO_FILTER_CLASS(klass);
  video->set_info = SetInfo;
  video->transform_frame = TransformFrame;
}

}  // namespace

void RegisterSwsScale() {
  static const gboolean registered =
      RegisterElementType(GST_TYPE_VIDEO_FILTER, "NewsreelSwsScale", kSwsScaleFactory,
                          sizeof(SwsScaleClass), ClassInit, sizeof(SwsScale), InstanceInit);
  (void)registered;
}

}  // namespace newsreel::transcoder
