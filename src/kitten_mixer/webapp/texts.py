"""Every text the app shows, in Spanish (the default) and English."""

from __future__ import annotations

LANGUAGES = {"es": "Español", "en": "English"}
DEFAULT_LANGUAGE = "es"

TEXTS: dict[str, dict[str, str]] = {
    "title": {"es": "Kitten Mixer: mezcla dos gatos en uno",
              "en": "Kitten Mixer: mix two cats into one"},
    "intro": {
        "es": "Elige dos gatos de la galería o del mapa, o sube la foto del tuyo, y mira cómo "
              "uno se convierte en el otro. Un VAE convolucional lleva cada gato a un punto de "
              "su espacio latente; los pasos del camino entre dos puntos son los gatitos "
              "intermedios.",
        "en": "Pick two cats from the gallery or the map, or upload a photo of your own, and "
              "watch one turn into the other. A convolutional VAE maps every cat to a point in "
              "its latent space; the steps along the path between two points are the kittens "
              "in between."},
    "language": {"es": "Idioma", "en": "Language"},
    "settings": {"es": "Ajustes", "en": "Settings"},
    "steps": {"es": "Pasos de la mezcla", "en": "Steps of the morph"},
    "steps_help": {"es": "Imágenes entre los dos gatos, ambos incluidos.",
                   "en": "Images from one cat to the other, both included."},
    "method": {"es": "Interpolación", "en": "Interpolation"},
    "linear": {"es": "Lineal", "en": "Linear"},
    "slerp": {"es": "Esférica", "en": "Spherical"},
    "method_help": {
        "es": "La esférica sigue un arco que mantiene los pasos intermedios tan lejos del "
              "origen como los gatos reales: mezclas más nítidas. La lineal va en línea recta.",
        "en": "Spherical follows an arc that keeps the steps in between as far from the origin "
              "as real cats are: sharper mixes. Linear goes in a straight line."},
    "chosen": {"es": "Gatos elegidos", "en": "Selected cats"},
    "choose_hint": {"es": "Elige dos gatos con «Seleccionar».",
                    "en": "Choose two cats with “Select”."},
    "choose_one_more": {"es": "Elige un gato más.", "en": "Choose one more cat."},
    "select": {"es": "Seleccionar", "en": "Select"},
    "remove": {"es": "Eliminar", "en": "Remove"},
    "two_chosen": {"es": "Ya hay dos gatos elegidos: elimina uno para elegir otro.",
                   "en": "Two cats are chosen: remove one to choose another."},
    "gallery": {"es": "Galería", "en": "Gallery"},
    "map": {"es": "Mapa latente", "en": "Latent map"},
    "previous": {"es": "Anterior", "en": "Previous"},
    "next": {"es": "Siguiente", "en": "Next"},
    "page": {"es": "Página {page} de {pages}", "en": "Page {page} of {pages}"},
    "map_help": {
        "es": "Cada punto es un gato; los gatos parecidos quedan cerca (t-SNE de sus códigos "
              "latentes). Pasa el ratón por un punto para ver el gato; haz clic para elegirlo.",
        "en": "Each point is a cat; similar cats sit together (t-SNE of their latent codes). "
              "Hover over a point to see the cat; click it to choose it."},
    "cat": {"es": "Gato", "en": "Cat"},
    "map_kind": {"es": "Tipo", "en": "Kind"},
    "kind_gallery": {"es": "galería", "en": "gallery"},
    "kind_upload": {"es": "tu foto", "en": "your photo"},
    "kind_kitten": {"es": "gatito nuevo", "en": "new kitten"},
    "kind_chosen": {"es": "elegido", "en": "chosen"},
    "morph": {"es": "La mezcla", "en": "The morph"},
    "download": {"es": "PNG", "en": "PNG"},
    "download_help": {"es": "Descargar esta imagen", "en": "Download this image"},
    "download_gif": {"es": "Descargar la animación (GIF)",
                     "en": "Download the animation (GIF)"},
    "download_strip": {"es": "Descargar la tira (PNG)", "en": "Download the strip (PNG)"},
    "animation": {"es": "Animación", "en": "Animation"},
    "mix": {"es": "Un solo gatito", "en": "One kitten"},
    "mix_ratio": {"es": "Cuánto del segundo gato", "en": "How much of the second cat"},
    "mix_caption": {"es": "{a}% del primero, {b}% del segundo",
                    "en": "{a}% of the first, {b}% of the second"},
    "download_mix": {"es": "Descargar este gatito (PNG)", "en": "Download this kitten (PNG)"},
    "upload": {"es": "Tu gato", "en": "Your cat"},
    "upload_label": {"es": "Sube fotos de gatos (jpg, png, webp)",
                     "en": "Upload cat photos (jpg, png, webp)"},
    "upload_help": {"es": "Se busca la cara del gato y se recorta como las caras de "
                          "entrenamiento. Las fotos no salen de este servidor.",
                    "en": "The cat's face is found and cropped like the training faces. "
                          "Photos stay on this server."},
    "face_found": {"es": "{name}: cara encontrada (recuadro rojo).",
                   "en": "{name}: face found (red box)."},
    "no_face": {"es": "{name}: no encontramos una cara de gato; usamos el centro de la foto. "
                      "Una foto de frente, con la cara grande, funciona mejor.",
                "en": "{name}: no cat face found, so the centre of the photo is used. A "
                      "frontal photo with a large face works best."},
    "upload_added": {"es": "Tus gatos están al principio de la galería.",
                     "en": "Your cats are at the start of the gallery."},
    "err_empty": {"es": "{name}: el archivo está vacío.", "en": "{name}: the file is empty."},
    "err_not-image": {"es": "{name}: no es una imagen que podamos leer.",
                      "en": "{name}: not an image we can read."},
    "err_damaged": {"es": "{name}: la imagen está dañada o incompleta.",
                    "en": "{name}: the image is damaged or truncated."},
    "err_too-large": {"es": "{name}: la imagen tiene demasiados píxeles.",
                      "en": "{name}: the image has too many pixels."},
    "err_too-large-upload": {"es": "{name}: el archivo pasa de {mb} MB.",
                             "en": "{name}: the file is over {mb} MB."},
    "err_too-small": {"es": "{name}: la imagen es demasiado pequeña para contener una cara.",
                      "en": "{name}: the image is too small to hold a face."},
    "err_other": {"es": "{name}: no pudimos usar este archivo.",
                  "en": "{name}: this file could not be used."},
    "kittens": {"es": "Gatitos nuevos", "en": "New kittens"},
    "kittens_button": {"es": "Crear gatitos nuevos", "en": "Make new kittens"},
    "kittens_help": {"es": "Gatos que no existen, sacados de donde viven los códigos de los "
                           "gatos reales. Se pueden mezclar como los demás.",
                     "en": "Cats that do not exist, drawn where real cats' codes lie. They "
                           "mix like any other."},
    "no_sampler": {"es": "Este modelo no trae un muestreador de gatitos.",
                   "en": "This model comes without a kitten sampler."},
    "kittens_added": {"es": "{n} gatitos nuevos al principio de la galería.",
                      "en": "{n} new kittens at the start of the gallery."},
    "about": {
        "es": "Modelo: {model}. Galería: {gallery}. Las caras de la galería incluida se "
              "dibujan a partir de sus códigos latentes: las fotos no se distribuyen.",
        "en": "Model: {model}. Gallery: {gallery}. The embedded gallery's faces are drawn "
              "from their latent codes: the photos are not distributed."},
    "embedded": {"es": "incluida con el modelo", "en": "embedded with the model"},
    "failure": {"es": "Algo salió mal; prueba de nuevo. ({what})",
                "en": "Something went wrong; please try again. ({what})"},
    "start_failure": {"es": "No se pudo cargar el modelo o la galería: {what}",
                      "en": "The model or the gallery could not be loaded: {what}"},
}


def text(key: str, language: str, **values: object) -> str:
    """The text `key` in `language` ("es" or "en"), with {placeholders} filled in."""
    entry = TEXTS[key]
    return entry.get(language, entry[DEFAULT_LANGUAGE]).format(**values)
