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
              "intermedios. Guarda los gatitos que te gusten y vuelve a mezclarlos, mezcla hasta "
              "cuatro gatos, ajusta sus genes, comparte el enlace de la página y cría con los "
              "gatitos que otros compartieron en la guardería.",
        "en": "Pick two cats from the gallery or the map, or upload a photo of your own, and "
              "watch one turn into the other. A convolutional VAE maps every cat to a point in "
              "its latent space; the steps along the path between two points are the kittens "
              "in between. Keep the kittens you like and mix them again, blend up to four "
              "cats, tune their genes, share the page's link and breed from the kittens others "
              "shared in the nursery."},
    "language": {"es": "Idioma", "en": "Language"},
    "settings": {"es": "Ajustes", "en": "Settings"},
    "steps": {"es": "Pasos de la mezcla", "en": "Steps of the morph"},
    "steps_help": {"es": "Imágenes entre los dos gatos, ambos incluidos.",
                   "en": "Images from one cat to the other, both included."},
    "method": {"es": "Interpolación", "en": "Interpolation"},
    "linear": {"es": "Lineal", "en": "Linear"},
    "slerp": {"es": "Esférica", "en": "Spherical"},
    "method_help": {
        "es": "La esférica sigue un arco alrededor del centro de los gatos reales que mantiene "
              "los pasos intermedios tan lejos de él como los gatos reales: mezclas más nítidas "
              "y más reales. La lineal va en línea recta.",
        "en": "Spherical follows an arc about the centre of real cats that keeps the steps in "
              "between as far from it as real cats are: sharper, more real mixes. Linear goes "
              "in a straight line."},
    "chosen": {"es": "Gatos elegidos", "en": "Selected cats"},
    "choose_hint": {"es": "Elige dos gatos (hasta cuatro) con «Seleccionar».",
                    "en": "Choose two cats (up to four) with “Select”."},
    "choose_one_more": {"es": "Elige un gato más.", "en": "Choose one more cat."},
    "select": {"es": "Seleccionar", "en": "Select"},
    "remove": {"es": "Eliminar", "en": "Remove"},
    "all_chosen": {"es": "Ya hay cuatro gatos elegidos: elimina uno para elegir otro.",
                   "en": "Four cats are chosen: remove one to choose another."},
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
    "kind_kept": {"es": "gatito guardado", "en": "kept kitten"},
    "kind_chosen": {"es": "elegido", "en": "chosen"},
    "kind_photo": {"es": "gato de una foto", "en": "a photo's cat"},
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
    "keep": {"es": "Guardar este gatito", "en": "Keep this kitten"},
    # Under each of the morph's steps, in a column too narrow for a word: a heart, with the
    # words in its tooltip ("keep") and in the hint under the steps.
    "keep_step": {"es": ":material/favorite:", "en": ":material/favorite:"},
    "keep_step_hint": {"es": "Pulsa :material/favorite: bajo un paso para guardar ese gatito.",
                       "en": "Press :material/favorite: under a step to keep that kitten."},
    "kept": {"es": "Guardado como {name}: está al principio de la galería y en «Tus gatitos».",
             "en": "Kept as {name}: it is first in the gallery and in “Your kittens”."},
    "keep_own": {"es": "Guardar este gato", "en": "Keep this cat"},
    "tuned": {"es": "ajustado", "en": "tuned"},
    "blend": {"es": "Mezcla de varios gatos", "en": "Blend of several cats"},
    "blend_help": {"es": "Cuánto de cada gato lleva el gatito: las partes cuentan en proporción "
                         "y se mezclan por el arco, como en la mezcla de dos.",
                   "en": "How much of each cat goes into the kitten: the shares count in "
                         "proportion and mix along the arc, as two cats do."},
    "share": {"es": "Parte de {name}", "en": "Share of {name}"},
    "blend_empty": {"es": "Dale una parte a algún gato.", "en": "Give at least one cat a share."},
    "genes": {"es": "Genes", "en": "Genes"},
    "genes_help": {"es": "Cada control mueve al gato por una de las direcciones principales de "
                         "los códigos de los gatos reales, de -3 a +3 veces su dispersión. Solo "
                         "llevan nombre los que una medida de las caras muestra.",
                   "en": "Each slider moves the cat along one of the main directions of real "
                         "cats' codes, from -3 to +3 times their spread. Only those a measure "
                         "of the faces shows are named."},
    "tune_cat": {"es": "Gato que ajustar", "en": "Cat to tune"},
    "gene": {"es": "Gen {n}", "en": "Gene {n}"},
    "gene_lightness": {"es": "Claridad", "en": "Lightness"},
    "gene_warmth": {"es": "Calidez (de azulado a rojizo)", "en": "Warmth (bluish to ginger)"},
    "gene_light_from_the_left": {"es": "Luz desde la izquierda", "en": "Light from the left"},
    "reset": {"es": "Restablecer los genes", "en": "Reset the genes"},
    "no_genes": {"es": "Este modelo no trae genes.", "en": "This model comes without genes."},
    "family": {"es": "Tus gatitos", "en": "Your kittens"},
    "family_empty": {"es": "Aún no has guardado ningún gatito: usa «Guardar este gatito» en una "
                           "mezcla, un gato ajustado o un gatito nuevo, o «Guardar este gato» en "
                           "tu foto.",
                     "en": "You have kept no kitten yet: use “Keep this kitten” on a mix, a "
                           "tuned cat or a new kitten, or “Keep this cat” on your photo."},
    "family_help": {"es": "Vuelven cada vez que abres la página en este navegador. Quien tenga el "
                          "enlace de un gatito puede verlo; la guardería muestra solo los que "
                          "compartes.",
                    "en": "They come back whenever you open the page in this browser. Anyone "
                          "with a kitten's link can see it; the nursery shows only those you "
                          "share."},
    "chosen_families": {"es": "Familias de los gatitos elegidos",
                        "en": "Families of the chosen kittens"},
    "parents": {"es": "Padres", "en": "Parents"},
    "grandparents": {"es": "Abuelos", "en": "Grandparents"},
    "share_of": {"es": "{name} · {share}% de {child}", "en": "{name} · {share}% of {child}"},
    "parent_upload": {"es": "una foto", "en": "a photo"},
    "parent_withdrawn": {"es": "retirado", "en": "withdrawn"},
    "parent_unknown": {"es": "un gato desconocido", "en": "an unknown cat"},
    "public": {"es": "Compartir en la guardería", "en": "Share in the nursery"},
    "public_help": {"es": "Que aparezca en la guardería, donde cualquiera puede elegirlo y criar "
                          "con él. Puedes quitarlo cuando quieras.",
                    "en": "Show it in the nursery, where anyone can choose it and breed from it. "
                          "You can take it out whenever you like."},
    "kitten_link": {"es": "Enlace", "en": "Link"},
    "delete": {"es": "Borrar", "en": "Delete"},
    "delete_help": {"es": "¿Borrar {name}? Sus hijos lo mostrarán como retirado.",
                    "en": "Delete {name}? Its children will show it as withdrawn."},
    "deleted": {"es": "{name} borrado.", "en": "{name} deleted."},
    "nursery": {"es": "Guardería", "en": "Nursery"},
    "nursery_help": {"es": "Los gatitos que los visitantes decidieron compartir. Elige uno para "
                           "mezclarlo como cualquier gato.",
                     "en": "The kittens visitors chose to share. Choose one to mix it like any "
                           "other cat."},
    "nursery_order": {"es": "Orden", "en": "Order"},
    "nursery_newest": {"es": "Los más nuevos", "en": "Newest"},
    "nursery_most_bred": {"es": "Los más criados", "en": "Most bred"},
    "nursery_empty": {"es": "Nadie ha compartido todavía un gatito: comparte uno de los tuyos en "
                            "«Tus gatitos».",
                      "en": "No kitten has been shared yet: share one of yours in “Your "
                            "kittens”."},
    "bred": {"es": "hijos: {n}", "en": "children: {n}"},
    "link_local": {"es": "Tus fotos y tus gatitos nuevos no caben en un enlace hasta que los "
                         "guardas: el de esta página no los lleva.",
                   "en": "Your photos and new kittens travel in a link once you keep them: "
                         "this page's link leaves them out."},
    "link_bad": {"es": "Ese enlace nombra gatos o valores que no conocemos: abrimos la página "
                       "sin él.",
                 "en": "That link names cats or values this page does not know, so the page "
                       "opens without it."},
    "link_gone": {"es": "Ese enlace nombra un gatito que no está (lo borró quien lo guardó, o "
                        "nunca existió): abrimos la página sin él.",
                  "en": "That link names a kitten that is not here (whoever kept it deleted "
                        "it, or it never was), so the page opens without it."},
    "kitten_gone": {"es": "Ese gatito ya no está: quien lo guardó lo borró.",
                    "en": "That kitten is not here any more: whoever kept it deleted it."},
    "redrawn": {"es": "Un gatito de aquí lo dibujó otro modelo: se ve como se guardó y, para "
                      "mezclarlo, lo volvimos a codificar desde su imagen.",
                "en": "A kitten here was drawn by another model: it shows as it was kept, and "
                      "to mix it, it was encoded again from its picture."},
    "store_down": {"es": "El almacén de gatitos no responde ahora: no se guardó nada nuevo y lo "
                         "ya guardado sigue a salvo. Prueba de nuevo en un rato.",
                   "en": "The kitten store is not answering now: nothing new was kept, and "
                         "what was kept before is safe. Please try again in a while."},
    "store_full": {"es": "El almacén de gatitos está lleno: este gatito no se guardó; lo ya "
                         "guardado sigue a salvo.",
                   "en": "The kitten store is full: this kitten was not kept; what was kept "
                         "before is safe."},
    "store_rate": {"es": "Demasiados gatitos guardados en un minuto: espera un poco y vuelve a "
                         "guardarlo.",
                   "en": "Too many kittens kept in a minute: wait a little and keep it again."},
    "store_refused": {"es": "El almacén de gatitos no aceptó esto; lo ya guardado sigue a salvo.",
                      "en": "The kitten store did not take this; what was kept before is safe."},
    "upload": {"es": "Tu gato", "en": "Your cat"},
    "upload_label": {"es": "Sube fotos de gatos (jpg, png, webp)",
                     "en": "Upload cat photos (jpg, png, webp)"},
    "upload_help": {"es": "Se busca la cara del gato y se recorta como las caras de "
                          "entrenamiento; si hay varios gatos, eliges cuál. Las fotos no se "
                          "guardan: si guardas tu gato, se guarda solo su código y la cara que "
                          "dibuja el modelo.",
                    "en": "The cat's face is found and cropped like the training faces; with "
                          "several cats, you pick which. Photos are never stored: keep your "
                          "cat, and only its code and the face the model draws of it are "
                          "kept."},
    "find_face": {"es": "Buscar la cara del gato", "en": "Find the cat's face"},
    "find_face_help": {"es": "Desmárcalo si tus fotos ya son caras recortadas: se usará su "
                             "centro tal cual.",
                       "en": "Untick it when your photos are face crops already: their centre "
                             "is used as it is."},
    "face_found": {"es": "{name}: cara encontrada (recuadro rojo).",
                   "en": "{name}: face found (red box)."},
    "faces_found": {"es": "{name}: {n} caras encontradas. La 1 (roja) es la más clara; elige "
                          "cuál mezclar.",
                    "en": "{name}: {n} faces found. Face 1 (red) is the clearest; pick the one "
                          "to mix."},
    "pick_face": {"es": "Mezclar la cara {n} de esta foto",
                  "en": "Mix face {n} of this photo"},
    "no_face": {"es": "{name}: no encontramos una cara de gato; usamos el centro de la foto. "
                      "Encuadra la cara tú mismo abajo, o prueba una foto de frente con la "
                      "cara grande.",
                "en": "{name}: no cat face found, so the centre of the photo is used. Frame "
                      "the face yourself below, or try a frontal photo with a large face."},
    "framed": {"es": "{name}: cara encuadrada a mano (cuadrado amarillo).",
               "en": "{name}: face framed by hand (yellow square)."},
    "frame": {"es": "¿No es su cara? Encuádrala tú", "en": "Not the face? Frame it yourself"},
    "frame_help": {"es": "Mueve, ajusta y gira el cuadrado amarillo sobre la cara del gato, de "
                         "la base de las orejas a la barbilla: el modelo lee lo que queda "
                         "dentro.",
                   "en": "Move, size and turn the yellow square over the cat's face, from the "
                         "base of the ears to the chin: the model reads what is inside it."},
    "frame_x": {"es": "Posición horizontal (%)", "en": "Across (%)"},
    "frame_y": {"es": "Posición vertical (%)", "en": "Down (%)"},
    "frame_side": {"es": "Tamaño (% del lado corto)", "en": "Size (% of the shorter side)"},
    "frame_angle": {"es": "Giro de la cabeza (grados)", "en": "Head's tilt (degrees)"},
    "frame_seen": {"es": "lo que lee el modelo", "en": "what the model reads"},
    "frame_use": {"es": "Mezclar este encuadre", "en": "Mix this square"},
    "frame_back": {"es": "Volver a la cara encontrada", "en": "Back to the face found"},
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
